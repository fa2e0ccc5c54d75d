# Example root module: an Azure Blob statesync store for one writer and one
# reader principal.
#
#   terraform init
#   terraform apply -var storage_account_name=acmestatesyncprod \
#                   -var key_vault_name=acme-statesync-prod \
#                   -var 'allowed_ip_ranges=["203.0.113.7"]'
#   export STATESYNC_STORE="$(terraform output -raw store_url)"
#   # and give statesync the account URL: terraform output -raw account_url

terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.9.0, < 5.0"
    }
  }
}

variable "location" {
  description = "Azure region of the store."
  type        = string
  default     = "westeurope"
}

variable "resource_group_name" {
  description = "Name of the resource group to create for the store."
  type        = string
  default     = "rg-statesync"
}

variable "storage_account_name" {
  description = "Globally unique storage account name (3-24 lowercase letters and digits)."
  type        = string
}

variable "key_vault_name" {
  description = "Globally unique Key Vault name."
  type        = string
}

variable "allowed_ip_ranges" {
  description = "Public IPs of statesync clients and of the machine running Terraform."
  type        = list(string)
  default     = []
}

variable "writer_principal_ids" {
  description = "Object IDs allowed to push."
  type        = list(string)
  default     = []
}

variable "reader_principal_ids" {
  description = "Object IDs allowed to pull."
  type        = list(string)
  default     = []
}

provider "azurerm" {
  features {
    key_vault {
      # Never purge the store key on destroy: purge protection forbids it and
      # losing it makes the store unreadable.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }
  }
  # Manage blob data with Microsoft Entra ID: shared key access is disabled.
  storage_use_azuread = true
}

resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
}

module "statesync_store" {
  source = "../.."

  resource_group_name  = azurerm_resource_group.this.name
  location             = azurerm_resource_group.this.location
  storage_account_name = var.storage_account_name
  key_vault_name       = var.key_vault_name
  container_name       = "statesync"
  prefix               = "prod"

  allowed_ip_ranges    = var.allowed_ip_ranges
  writer_principal_ids = var.writer_principal_ids
  reader_principal_ids = var.reader_principal_ids

  tags = {
    app = "statesync"
  }
}

output "store_url" {
  description = "statesync store URL."
  value       = module.statesync_store.store_url
}

output "account_url" {
  description = "Blob account URL for statesync."
  value       = module.statesync_store.account_url
}

output "recipient" {
  description = "statesync azure-kv recipient."
  value       = module.statesync_store.recipient
}

output "statesync_toml" {
  description = "A ready statesync.toml for this store: terraform output -raw statesync_toml > statesync.toml"
  value       = module.statesync_store.statesync_toml
}

output "shell_exports" {
  description = "Environment variables statesync needs: eval \"$(terraform output -raw shell_exports)\""
  value       = module.statesync_store.shell_exports
}
