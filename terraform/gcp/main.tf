# Cloud Storage store for statesync: a bucket encrypted with a customer-managed
# Cloud KMS key (CMEK) that is also the store's `gcp-kms` recipient.

locals {
  kms_location = coalesce(var.kms_location, lower(var.location))
}

# --------------------------------------------------------------------------
# KMS: the bucket's default key and the gcp-kms recipient.
# --------------------------------------------------------------------------

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = var.key_ring_name
  location = local.kms_location
}

resource "google_kms_crypto_key" "this" {
  name            = var.key_name
  key_ring        = google_kms_key_ring.this.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = var.key_rotation_period
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.key_protection_level
  }

  # Destroying the key makes every object and every gcp-kms-wrapped data key
  # of the store unreadable.
  lifecycle {
    prevent_destroy = true
  }
}

# The Cloud Storage service agent encrypts and decrypts objects with the key.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "gcs_service_agent" {
  crypto_key_id = google_kms_crypto_key.this.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# --------------------------------------------------------------------------
# Bucket
# --------------------------------------------------------------------------

resource "google_storage_bucket" "this" {
  #checkov:skip=CKV_GCP_62:Usage logging is optional (var.access_logging) because it needs a separate log bucket; Cloud Audit Logs data-access logs, configured at project level, are the recommended alternative.
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.location
  storage_class               = var.storage_class
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.this.id
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_days * 86400
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_expiration_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = var.abort_incomplete_multipart_upload_days
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "logging" {
    for_each = var.access_logging == null ? [] : [var.access_logging]
    content {
      log_bucket        = logging.value.log_bucket
      log_object_prefix = coalesce(logging.value.log_object_prefix, var.bucket_name)
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_service_agent]
}
