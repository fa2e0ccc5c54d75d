# Azure Blob store for statesync: a storage account and a container, encrypted
# with a customer-managed Key Vault key that is also the store's `azure-kv`
# recipient.

data "azurerm_client_config" "current" {}

locals {
  # RSA-HSM keys need a premium vault.
  key_type = var.key_vault_sku_name == "premium" ? "RSA-HSM" : "RSA"

  # Storage accepts single addresses without /32 only.
  storage_ip_rules = [for r in var.allowed_ip_ranges : trimsuffix(r, "/32")]

  # ARM scope of the container, for role assignments.
  container_scope = "${azurerm_storage_account.this.id}/blobServices/default/containers/${azurerm_storage_container.this.name}"
}

# --------------------------------------------------------------------------
# Key Vault and key: the azure-kv recipient and the storage encryption key.
# --------------------------------------------------------------------------

resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV_AZURE_189:The public endpoint stays on so statesync clients outside Azure can wrap and unwrap keys; it is closed by network_acls (default Deny, allowed_ip_ranges / allowed_subnet_ids). Private endpoints are left to the caller.
  #checkov:skip=CKV2_AZURE_32:Private endpoints need the caller's VNet and private DNS zones; access is restricted by the vault firewall instead (set public_network_access_enabled = false and add a private endpoint outside this module if wanted).
  name                          = var.key_vault_name
  location                      = var.location
  resource_group_name           = var.resource_group_name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = var.key_vault_sku_name
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = var.key_vault_soft_delete_retention_days
  public_network_access_enabled = var.public_network_access_enabled
  tags                          = var.tags

  network_acls {
    default_action             = var.network_default_action
    bypass                     = "AzureServices"
    ip_rules                   = var.allowed_ip_ranges
    virtual_network_subnet_ids = var.allowed_subnet_ids
  }
}

resource "azurerm_role_assignment" "deployer_crypto_officer" {
  count                = var.grant_deployer_crypto_officer ? 1 : 0
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Crypto Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_key" "this" {
  #checkov:skip=CKV_AZURE_40:A fixed expiration_date would stop the key from wrapping new data keys (and from encrypting the storage account) on that date; rotation_policy instead gives every key version an expiry (key_expire_after) and creates a new version before it (key_rotation_after).
  name         = var.key_name
  key_vault_id = azurerm_key_vault.this.id
  key_type     = local.key_type
  key_size     = var.key_size
  # Only what the azure-kv recipient (wrap_key / unwrap_key of a random
  # key-encryption key) and the storage account's CMK need: no encrypt,
  # decrypt, sign or verify with the store key.
  key_opts = ["wrapKey", "unwrapKey"]
  tags         = var.tags

  rotation_policy {
    automatic {
      time_after_creation = var.key_rotation_after
    }
    expire_after         = var.key_expire_after
    notify_before_expiry = "P30D"
  }

  depends_on = [azurerm_role_assignment.deployer_crypto_officer]
}

# Identity the storage account uses to reach its encryption key.
resource "azurerm_user_assigned_identity" "storage" {
  name                = "${var.storage_account_name}-cmk"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_role_assignment" "storage_cmk" {
  scope                = azurerm_key_vault_key.this.resource_versionless_id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_user_assigned_identity.storage.principal_id
}

# --------------------------------------------------------------------------
# Storage account and container
# --------------------------------------------------------------------------

resource "azurerm_storage_account" "this" {
  #checkov:skip=CKV_AZURE_59:The public endpoint stays on so statesync clients outside Azure can reach the store; it is closed by network_rules (default Deny, allowed_ip_ranges / allowed_subnet_ids). Set public_network_access_enabled = false to allow private endpoints only.
  #checkov:skip=CKV2_AZURE_33:Private endpoints need the caller's VNet and private DNS zones; access is restricted by the storage firewall instead.
  #checkov:skip=CKV_AZURE_33:statesync uses the Blob service only; the account's queue service holds nothing, and queue_properties would need Shared Key access to the data plane.
  name                     = var.storage_account_name
  resource_group_name      = var.resource_group_name
  location                 = var.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = var.account_replication_type
  access_tier              = "Hot"

  https_traffic_only_enabled        = true
  min_tls_version                   = "TLS1_2"
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = var.shared_access_key_enabled
  default_to_oauth_authentication   = true
  public_network_access_enabled     = var.public_network_access_enabled
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true
  local_user_enabled                = false
  sftp_enabled                      = false
  is_hns_enabled                    = false

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.storage.id]
  }

  customer_managed_key {
    # Versionless: the account follows the key's rotations by itself.
    key_vault_key_id          = azurerm_key_vault_key.this.versionless_id
    user_assigned_identity_id = azurerm_user_assigned_identity.storage.id
  }

  network_rules {
    default_action             = var.network_default_action
    bypass                     = ["AzureServices"]
    ip_rules                   = local.storage_ip_rules
    virtual_network_subnet_ids = var.allowed_subnet_ids
  }

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.blob_soft_delete_retention_days
    }

    container_delete_retention_policy {
      days = var.container_soft_delete_retention_days
    }
  }

  sas_policy {
    # Only matters when shared_access_key_enabled is true.
    expiration_period = "01.00:00:00"
  }

  tags = var.tags

  depends_on = [azurerm_role_assignment.storage_cmk]
}

resource "azurerm_storage_container" "this" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging is provided by the optional diagnostic setting (StorageRead/StorageWrite/StorageDelete to Log Analytics, var.diagnostics); this check only recognises azurerm_log_analytics_storage_insights, which needs the account's shared key.
  name                  = var.container_name
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  rule {
    name    = "expire-previous-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
      # "<container>/" alone would still match only this container.
      prefix_match = [var.prefix == "" ? "${var.container_name}/" : "${var.container_name}/${var.prefix}/"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.previous_version_expiration_days
      }
    }
  }
}

# --------------------------------------------------------------------------
# Diagnostic logs (optional)
# --------------------------------------------------------------------------

resource "azurerm_monitor_diagnostic_setting" "blob" {
  count                      = var.diagnostics == null ? 0 : 1
  name                       = "statesync-blob-logs"
  target_resource_id         = "${azurerm_storage_account.this.id}/blobServices/default"
  log_analytics_workspace_id = var.diagnostics.log_analytics_workspace_id

  enabled_log {
    category = "StorageRead"
  }

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}

resource "azurerm_monitor_diagnostic_setting" "key_vault" {
  count                      = var.diagnostics == null ? 0 : 1
  name                       = "statesync-key-vault-logs"
  target_resource_id         = azurerm_key_vault.this.id
  log_analytics_workspace_id = var.diagnostics.log_analytics_workspace_id

  enabled_log {
    category = "AuditEvent"
  }
}
