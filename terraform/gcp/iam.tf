# Roles for statesync users.
#
#   reader: roles/storage.objectViewer            + roles/cloudkms.cryptoKeyDecrypter
#   writer: roles/storage.objectUser              + roles/cloudkms.cryptoKeyEncrypterDecrypter
#
# Objects are encrypted by Cloud Storage with the bucket's CMEK key on its
# own; the KMS roles are for the gcp-kms recipient, which wraps (writer) and
# unwraps (reader, writer) data keys with the same key.
#
# With a prefix, the bucket roles carry an IAM Condition that limits them to
# objects under "PREFIX/" and to listings of that prefix.

locals {
  prefix_condition = var.prefix == "" ? [] : [{
    title       = "statesync-prefix"
    description = "Only objects of the statesync store under ${var.prefix}/"
    expression = join(" || ", [
      "resource.name.startsWith(\"projects/_/buckets/${var.bucket_name}/objects/${var.prefix}/\")",
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\") == \"${var.prefix}\"",
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${var.prefix}/\")",
    ])
  }]
}

resource "google_storage_bucket_iam_member" "reader" {
  for_each = toset(var.reader_members)
  bucket   = google_storage_bucket.this.name
  role     = "roles/storage.objectViewer"
  member   = each.value

  dynamic "condition" {
    for_each = local.prefix_condition
    content {
      title       = condition.value.title
      description = condition.value.description
      expression  = condition.value.expression
    }
  }
}

resource "google_storage_bucket_iam_member" "writer" {
  for_each = toset(var.writer_members)
  bucket   = google_storage_bucket.this.name
  role     = "roles/storage.objectUser"
  member   = each.value

  dynamic "condition" {
    for_each = local.prefix_condition
    content {
      title       = condition.value.title
      description = condition.value.description
      expression  = condition.value.expression
    }
  }
}

resource "google_kms_crypto_key_iam_member" "reader" {
  for_each      = toset(var.reader_members)
  crypto_key_id = google_kms_crypto_key.this.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = each.value
}

resource "google_kms_crypto_key_iam_member" "writer" {
  for_each      = toset(var.writer_members)
  crypto_key_id = google_kms_crypto_key.this.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
