# Example root module: an S3 statesync store with reader and writer roles.
#
#   terraform init
#   terraform apply -var bucket_name=acme-statesync-prod
#   export STATESYNC_STORE="$(terraform output -raw store_url)"
#   statesync init
#   statesync keys ... "$(terraform output -raw recipient)"

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

variable "region" {
  description = "AWS region of the store."
  type        = string
  default     = "eu-west-1"
}

variable "bucket_name" {
  description = "Globally unique name of the store bucket."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the store inside the bucket (no leading or trailing slash)."
  type        = string
  default     = "prod"
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

module "statesync_store" {
  source = "../.."

  bucket_name = var.bucket_name
  prefix      = var.prefix

  noncurrent_version_expiration_days = 90
  object_lock_enabled                = false

  # Principals of this account may assume the roles (narrow this in real use).
  reader_trusted_principal_arns = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
  writer_trusted_principal_arns = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]

  tags = {
    app = "statesync"
  }
}

output "store_url" {
  description = "statesync store URL."
  value       = module.statesync_store.store_url
}

output "recipient" {
  description = "statesync aws-kms recipient."
  value       = module.statesync_store.recipient
}

output "region" {
  description = "Region to give statesync (AWS_REGION)."
  value       = module.statesync_store.region
}

output "role_arns" {
  description = "Reader and writer role ARNs."
  value       = module.statesync_store.role_arns
}

output "statesync_toml" {
  description = "A ready statesync.toml for this store: terraform output -raw statesync_toml > statesync.toml"
  value       = module.statesync_store.statesync_toml
}

output "shell_exports" {
  description = "Environment variables statesync needs: eval \"$(terraform output -raw shell_exports)\""
  value       = module.statesync_store.shell_exports
}
