output "store_url" {
  description = "statesync store URL (use as --store or STATESYNC_STORE): gs://BUCKET/PREFIX, or gs://BUCKET when prefix is empty."
  value       = var.prefix == "" ? "gs://${google_storage_bucket.this.name}" : "gs://${google_storage_bucket.this.name}/${var.prefix}"
}

output "recipient" {
  description = "statesync gcp-kms recipient for this store's key: gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K."
  value       = "gcp-kms:${google_kms_crypto_key.this.id}"
}

output "bucket_name" {
  description = "Name of the store bucket."
  value       = google_storage_bucket.this.name
}

output "bucket_url" {
  description = "gs:// URL of the bucket itself (without the store prefix)."
  value       = google_storage_bucket.this.url
}

output "prefix" {
  description = "Object name prefix of the store inside the bucket (empty: bucket root)."
  value       = var.prefix
}

output "kms_key_id" {
  description = "Full resource name of the KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K)."
  value       = google_kms_crypto_key.this.id
}

output "kms_key_ring_id" {
  description = "Full resource name of the KMS key ring."
  value       = google_kms_key_ring.this.id
}

output "statesync_toml" {
  description = "A ready statesync.toml: the store and its gcp-kms recipient (save it as statesync.toml in the folder you run statesync from)."
  value       = <<-EOT
    store = "${var.prefix == "" ? "gs://${google_storage_bucket.this.name}" : "gs://${google_storage_bucket.this.name}/${var.prefix}"}"

    [keys]
    recipients = ["gcp-kms:${google_kms_crypto_key.this.id}"]
  EOT
}

output "environment" {
  description = "Environment variables statesync needs for this store, as a map (GOOGLE_CLOUD_PROJECT: the bucket's project; credentials come from Application Default Credentials)."
  value       = { GOOGLE_CLOUD_PROJECT = var.project_id }
}

output "shell_exports" {
  description = "The same variables as shell export lines: eval \"$(terraform output -raw shell_exports)\"."
  value       = "export GOOGLE_CLOUD_PROJECT=${var.project_id}\n"
}
