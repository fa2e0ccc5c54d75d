# Data-plane roles for statesync users, scoped to the container and the key.
#
#   reader: Storage Blob Data Reader      + statesync key unwrapper (read, unwrapKey)
#   writer: Storage Blob Data Contributor + statesync key wrapper   (read, wrapKey, unwrapKey)
#
# The azure-kv recipient wraps and unwraps a random key-encryption key with the
# vault key and nothing else; the key itself allows only wrapKey and unwrapKey
# (key_opts in main.tf), and these custom roles grant only those operations
# (the built-in Key Vault Crypto User would also grant encrypt, decrypt, sign
# and verify). "read" lets the SDK fetch the public key.

resource "azurerm_role_definition" "key_unwrap" {
  name        = "statesync key unwrapper ${var.key_vault_name}/${var.key_name}"
  scope       = azurerm_key_vault.this.id
  description = "Read the statesync store key and unwrap data keys with it."

  permissions {
    data_actions = [
      "Microsoft.KeyVault/vaults/keys/read",
      "Microsoft.KeyVault/vaults/keys/unwrap/action",
    ]
  }

  assignable_scopes = [azurerm_key_vault.this.id]
}

resource "azurerm_role_definition" "key_wrap" {
  name        = "statesync key wrapper ${var.key_vault_name}/${var.key_name}"
  scope       = azurerm_key_vault.this.id
  description = "Read the statesync store key and wrap and unwrap data keys with it."

  permissions {
    data_actions = [
      "Microsoft.KeyVault/vaults/keys/read",
      "Microsoft.KeyVault/vaults/keys/wrap/action",
      "Microsoft.KeyVault/vaults/keys/unwrap/action",
    ]
  }

  assignable_scopes = [azurerm_key_vault.this.id]
}

resource "azurerm_role_assignment" "reader_blob" {
  for_each             = toset(var.reader_principal_ids)
  scope                = local.container_scope
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "reader_key" {
  for_each           = toset(var.reader_principal_ids)
  scope              = azurerm_key_vault_key.this.resource_versionless_id
  role_definition_id = azurerm_role_definition.key_unwrap.role_definition_resource_id
  principal_id       = each.value
}

resource "azurerm_role_assignment" "writer_blob" {
  for_each             = toset(var.writer_principal_ids)
  scope                = local.container_scope
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "writer_key" {
  for_each           = toset(var.writer_principal_ids)
  scope              = azurerm_key_vault_key.this.resource_versionless_id
  role_definition_id = azurerm_role_definition.key_wrap.role_definition_resource_id
  principal_id       = each.value
}
