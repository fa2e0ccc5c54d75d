output "store_url" {
  description = "statesync store URL (use as --store or STATESYNC_STORE): az://CONTAINER/PREFIX, or az://CONTAINER when prefix is empty. The account comes from account_url (or a connection string)."
  value       = var.prefix == "" ? "az://${azurerm_storage_container.this.name}" : "az://${azurerm_storage_container.this.name}/${var.prefix}"
}

output "account_url" {
  description = "Blob service URL of the storage account, https://ACCOUNT.blob.core.windows.net, which statesync uses with azure-identity credentials."
  value       = "https://${azurerm_storage_account.this.name}.blob.core.windows.net"
}

output "recipient" {
  description = "statesync azure-kv recipient for this store's key: azure-kv:<versionless key ID, https://VAULT.vault.azure.net/keys/NAME>."
  value       = "azure-kv:${azurerm_key_vault_key.this.versionless_id}"
}

output "storage_account_name" {
  description = "Name of the storage account."
  value       = azurerm_storage_account.this.name
}

output "storage_account_id" {
  description = "Resource ID of the storage account."
  value       = azurerm_storage_account.this.id
}

output "container_name" {
  description = "Name of the blob container."
  value       = azurerm_storage_container.this.name
}

output "container_scope" {
  description = "Resource Manager ID of the container, for further role assignments."
  value       = local.container_scope
}

output "prefix" {
  description = "Blob name prefix of the store inside the container (empty: container root)."
  value       = var.prefix
}

output "key_vault_id" {
  description = "Resource ID of the Key Vault."
  value       = azurerm_key_vault.this.id
}

output "key_vault_uri" {
  description = "URI of the Key Vault (https://VAULT.vault.azure.net/)."
  value       = azurerm_key_vault.this.vault_uri
}

output "key_id" {
  description = "Versionless ID of the key (https://VAULT.vault.azure.net/keys/NAME)."
  value       = azurerm_key_vault_key.this.versionless_id
}

output "key_resource_id" {
  description = "Resource Manager ID of the key, for further role assignments (e.g. Key Vault Crypto User)."
  value       = azurerm_key_vault_key.this.resource_versionless_id
}

output "statesync_toml" {
  description = "A ready statesync.toml: the store and its azure-kv recipient (save it as statesync.toml in the folder you run statesync from; the account comes from AZURE_STORAGE_ACCOUNT_URL, see environment)."
  value       = <<-EOT
    store = "${var.prefix == "" ? "az://${azurerm_storage_container.this.name}" : "az://${azurerm_storage_container.this.name}/${var.prefix}"}"

    [keys]
    recipients = ["azure-kv:${azurerm_key_vault_key.this.versionless_id}"]
  EOT
}

output "environment" {
  description = "Environment variables statesync needs for this store, as a map (AZURE_STORAGE_ACCOUNT_URL: the account; credentials come from azure-identity: az login, a managed identity, ...)."
  value       = { AZURE_STORAGE_ACCOUNT_URL = "https://${azurerm_storage_account.this.name}.blob.core.windows.net" }
}

output "shell_exports" {
  description = "The same variables as shell export lines: eval \"$(terraform output -raw shell_exports)\"."
  value       = "export AZURE_STORAGE_ACCOUNT_URL=https://${azurerm_storage_account.this.name}.blob.core.windows.net\n"
}
