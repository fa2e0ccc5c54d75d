terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.9.0 added storage_account_id to azurerm_storage_container (the
      # container is then managed through Azure Resource Manager, which works
      # with shared key access disabled).
      version = ">= 4.9.0, < 5.0"
    }
  }
}
