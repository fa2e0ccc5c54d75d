# Data-plane roles for statesync users, scoped to the container and the key.
#
#   reader: Storage Blob Data Reader + Key Vault Crypto User
#   writer: Storage Blob Data Contributor + Key Vault Crypto User
#
# Key Vault Crypto User allows wrapKey/unwrapKey/encrypt/decrypt with the key,
# which the azure-kv recipient needs to wrap and unwrap data keys.

resource "azurerm_role_assignment" "reader_blob" {
  for_each             = toset(var.reader_principal_ids)
  scope                = local.container_scope
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "reader_key" {
  for_each             = toset(var.reader_principal_ids)
  scope                = azurerm_key_vault_key.this.resource_versionless_id
  role_definition_name = "Key Vault Crypto User"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "writer_blob" {
  for_each             = toset(var.writer_principal_ids)
  scope                = local.container_scope
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "writer_key" {
  for_each             = toset(var.writer_principal_ids)
  scope                = azurerm_key_vault_key.this.resource_versionless_id
  role_definition_name = "Key Vault Crypto User"
  principal_id         = each.value
}
