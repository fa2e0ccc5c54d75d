variable "resource_group_name" {
  description = "Name of the existing resource group that receives the storage account, the Key Vault and the managed identity."
  type        = string

  validation {
    condition     = can(regex("^[-\\w\\.\\(\\)]{1,89}[-\\w\\(\\)]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 characters: letters, digits, underscores, hyphens, periods and parentheses, not ending in a period."
  }
}

variable "location" {
  description = "Azure region of the resources, e.g. \"westeurope\"."
  type        = string
}

variable "storage_account_name" {
  description = "Name of the storage account (globally unique, 3-24 lowercase letters and digits). The blob endpoint is https://<name>.blob.core.windows.net."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "storage_account_name must be 3-24 lowercase letters and digits."
  }
}

variable "container_name" {
  description = "Name of the blob container that holds the store."
  type        = string
  default     = "statesync"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.container_name)) && !strcontains(var.container_name, "--")
    error_message = "container_name must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "prefix" {
  description = "Blob name prefix of the store inside the container, without leading or trailing slash (e.g. \"teams/platform\"). Empty puts the store at the container root."
  type        = string
  default     = ""

  validation {
    condition     = var.prefix == "" || (can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.prefix)) && alltrue([for s in split("/", var.prefix) : s != "." && s != ".."]))
    error_message = "prefix must be empty or slash-separated segments of letters, digits and !_.*'()- with no leading, trailing or doubled slash and no \".\" or \"..\" segment."
  }
}

variable "account_replication_type" {
  description = "Replication of the storage account: GZRS (zone- and geo-redundant, the default), RAGZRS, GRS, RAGRS, ZRS or LRS. Pick GRS where the region has no availability zones."
  type        = string
  default     = "GZRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.account_replication_type)
    error_message = "account_replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "shared_access_key_enabled" {
  description = "Allow Shared Key authorization (account keys, connection strings with AccountKey, account SAS). Off by default: statesync then authenticates with Microsoft Entra ID through azure-identity. Turn on only for clients that need a connection string."
  type        = bool
  default     = false
}

variable "public_network_access_enabled" {
  description = "Keep the public endpoints of the storage account and the Key Vault on (restricted by network_default_action, allowed_ip_ranges and allowed_subnet_ids). False allows private endpoints only, which this module does not create."
  type        = bool
  default     = true
}

variable "network_default_action" {
  description = "Default firewall action of the storage account and the Key Vault for traffic matching no rule: Deny (only allowed_ip_ranges, allowed_subnet_ids and trusted Azure services get in) or Allow."
  type        = string
  default     = "Deny"

  validation {
    condition     = contains(["Deny", "Allow"], var.network_default_action)
    error_message = "network_default_action must be Deny or Allow."
  }
}

variable "allowed_ip_ranges" {
  description = "Public IPv4 addresses or CIDR ranges allowed through the storage account and Key Vault firewalls (statesync clients and the machine running Terraform, which creates the Key Vault key over the data plane). Storage accepts no /31 or /32 CIDR: give single addresses without a suffix."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.allowed_ip_ranges : can(cidrhost(strcontains(r, "/") ? r : "${r}/32", 0))])
    error_message = "allowed_ip_ranges must contain IPv4 addresses or CIDR ranges."
  }
}

variable "allowed_subnet_ids" {
  description = "IDs of virtual network subnets (with the Microsoft.Storage and Microsoft.KeyVault service endpoints) allowed through the storage account and Key Vault firewalls."
  type        = list(string)
  default     = []
}

variable "blob_soft_delete_retention_days" {
  description = "Days a deleted blob (or a blob version) can be restored (1-365)."
  type        = number
  default     = 30

  validation {
    condition     = var.blob_soft_delete_retention_days >= 1 && var.blob_soft_delete_retention_days <= 365
    error_message = "blob_soft_delete_retention_days must be between 1 and 365."
  }
}

variable "container_soft_delete_retention_days" {
  description = "Days a deleted container can be restored (1-365)."
  type        = number
  default     = 30

  validation {
    condition     = var.container_soft_delete_retention_days >= 1 && var.container_soft_delete_retention_days <= 365
    error_message = "container_soft_delete_retention_days must be between 1 and 365."
  }
}

variable "previous_version_expiration_days" {
  description = "Age in days at which previous blob versions (overwritten refs, blobs removed by `statesync gc`) are deleted by a lifecycle management rule. Azure counts from the version's creation (when that content was written), not from when it was superseded. Deleted versions stay restorable for blob_soft_delete_retention_days more."
  type        = number
  default     = 90

  validation {
    condition     = var.previous_version_expiration_days >= 1 && floor(var.previous_version_expiration_days) == var.previous_version_expiration_days
    error_message = "previous_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "key_vault_name" {
  description = "Name of the Key Vault (globally unique, 3-24 letters, digits and hyphens, starting with a letter). The key's URL is https://<name>.vault.azure.net/keys/<key_name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$", var.key_vault_name)) && !strcontains(var.key_vault_name, "--")
    error_message = "key_vault_name must be 3-24 letters, digits and single hyphens, start with a letter and end with a letter or digit."
  }
}

variable "key_vault_sku_name" {
  description = "Key Vault SKU: premium (HSM-protected RSA-HSM key, the default) or standard (software-protected RSA key)."
  type        = string
  default     = "premium"

  validation {
    condition     = contains(["premium", "standard"], var.key_vault_sku_name)
    error_message = "key_vault_sku_name must be premium or standard."
  }
}

variable "key_vault_soft_delete_retention_days" {
  description = "Days a deleted Key Vault or key stays recoverable (7-90). Purge protection is always on: nobody can purge before this ends. Can only be set when the vault is created."
  type        = number
  default     = 90

  validation {
    condition     = var.key_vault_soft_delete_retention_days >= 7 && var.key_vault_soft_delete_retention_days <= 90
    error_message = "key_vault_soft_delete_retention_days must be between 7 and 90."
  }
}

variable "key_name" {
  description = "Name of the Key Vault key used as the store's azure-kv recipient and as the storage account's customer-managed encryption key."
  type        = string
  default     = "statesync"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,127}$", var.key_name))
    error_message = "key_name must be 1-127 letters, digits and hyphens."
  }
}

variable "key_size" {
  description = "RSA key size in bits: 2048, 3072 or 4096."
  type        = number
  default     = 3072

  validation {
    condition     = contains([2048, 3072, 4096], var.key_size)
    error_message = "key_size must be 2048, 3072 or 4096."
  }
}

variable "key_rotation_after" {
  description = "ISO 8601 duration after which Key Vault automatically creates a new key version (e.g. P90D). Must be shorter than key_expire_after. Old versions stay enabled, so data keys wrapped with them can still be unwrapped."
  type        = string
  default     = "P90D"

  validation {
    condition     = can(regex("^P([0-9]+[YMD])+$", var.key_rotation_after))
    error_message = "key_rotation_after must be an ISO 8601 duration in years, months or days, e.g. P90D or P1Y."
  }
}

variable "key_expire_after" {
  description = "ISO 8601 duration after creation at which each key version expires (no new wraps/encryptions with it; unwrap and decrypt keep working). Must be longer than key_rotation_after."
  type        = string
  default     = "P1Y"

  validation {
    condition     = can(regex("^P([0-9]+[YMD])+$", var.key_expire_after))
    error_message = "key_expire_after must be an ISO 8601 duration in years, months or days, e.g. P1Y."
  }
}

variable "grant_deployer_crypto_officer" {
  description = "Give the principal running Terraform the Key Vault Crypto Officer role on the vault, which it needs to create and rotate the key. Set false if it already has it through another assignment."
  type        = bool
  default     = true
}

variable "reader_principal_ids" {
  description = "Object IDs of Microsoft Entra principals (users, groups, service principals, managed identities) that may read the store: Storage Blob Data Reader on the container and Key Vault Crypto User on the key. Must be known at plan time."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.reader_principal_ids : can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", id))])
    error_message = "reader_principal_ids must contain object IDs (GUIDs)."
  }
}

variable "writer_principal_ids" {
  description = "Object IDs of Microsoft Entra principals that may read and write the store: Storage Blob Data Contributor on the container and Key Vault Crypto User on the key. Must be known at plan time."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.writer_principal_ids : can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", id))])
    error_message = "writer_principal_ids must contain object IDs (GUIDs)."
  }
}

variable "diagnostics" {
  description = "Send blob read/write/delete logs of the storage account and audit logs of the Key Vault to this Log Analytics workspace (its resource ID). Null disables diagnostic logging."
  type = object({
    log_analytics_workspace_id = string
  })
  default = null
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
