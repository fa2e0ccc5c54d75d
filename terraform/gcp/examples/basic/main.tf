# Example root module: a Cloud Storage statesync store with writers and
# readers.
#
#   terraform init
#   terraform apply -var project_id=acme-prod -var bucket_name=acme-statesync-prod
#   export STATESYNC_STORE="$(terraform output -raw store_url)"

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

variable "project_id" {
  description = "Google Cloud project of the store."
  type        = string
}

variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "region" {
  description = "Region of the bucket and of the KMS key ring."
  type        = string
  default     = "europe-west1"
}

variable "writer_members" {
  description = "IAM members allowed to push, e.g. [\"serviceAccount:ci@acme-prod.iam.gserviceaccount.com\"]."
  type        = list(string)
  default     = []
}

variable "reader_members" {
  description = "IAM members allowed to pull, e.g. [\"group:platform@acme.example\"]."
  type        = list(string)
  default     = []
}

provider "google" {
  project = var.project_id
  region  = var.region
}

module "statesync_store" {
  source = "../.."

  project_id  = var.project_id
  bucket_name = var.bucket_name
  location    = var.region
  prefix      = "prod"

  writer_members = var.writer_members
  reader_members = var.reader_members

  labels = {
    app = "statesync"
  }
}

output "store_url" {
  description = "statesync store URL."
  value       = module.statesync_store.store_url
}

output "recipient" {
  description = "statesync gcp-kms recipient."
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
