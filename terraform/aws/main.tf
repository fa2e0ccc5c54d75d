# S3 store for statesync: one bucket (optionally shared by several stores under
# different prefixes), encrypted with a dedicated customer-managed KMS key that
# is also the store's `aws-kms` recipient.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # "" when the store is at the bucket root, otherwise "PREFIX/".
  key_prefix  = var.prefix == "" ? "" : "${var.prefix}/"
  objects_arn = "${aws_s3_bucket.this.arn}/${local.key_prefix}*"
  kms_alias   = "alias/${coalesce(var.kms_key_alias, "statesync-${var.bucket_name}")}"
  account_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

# --------------------------------------------------------------------------
# KMS: SSE-KMS for every object, and the statesync `aws-kms` recipient.
# --------------------------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: Resource "*" means this key only, and the account-root statement is the AWS default that keeps the key manageable and lets IAM policies grant access.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: Resource "*" means this key only, and the account-root statement is the AWS default that keeps the key manageable and lets IAM policies grant access.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: Resource "*" means this key only; key policies cannot name another resource.
  # The account (and so IAM policies, such as the reader/writer/admin policies
  # in iam.tf) controls the key. This is the AWS default key policy; without
  # it the key could become unmanageable. S3 uses the key with the permissions
  # of the caller (SSE-KMS), and the aws-kms recipient calls KMS directly:
  # both are granted by those IAM policies.
  statement {
    sid       = "EnableIAMPolicies"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_arn]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "statesync store ${local.store_url}: SSE-KMS and aws-kms recipient"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = local.kms_alias
  target_key_id = aws_kms_key.this.key_id
}

# --------------------------------------------------------------------------
# Bucket
# --------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a deployment decision (second region, second key, replication role); statesync stores are recovered from versioning and can be replicated by the caller.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications exists; statesync polls refs and never needs events.
  bucket              = var.bucket_name
  force_destroy       = var.force_destroy
  object_lock_enabled = var.object_lock_enabled
  tags                = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    # One KMS data key per bucket instead of one KMS call per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    # The whole bucket: it belongs to this store.
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    # The whole bucket: it belongs to this store.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = var.noncurrent_version_expiration_days
      newer_noncurrent_versions = var.noncurrent_versions_to_keep
    }

    # Remove delete markers left alone once their noncurrent versions expired.
    expiration {
      expired_object_delete_marker = true
    }
  }

  # Versioning must be on before noncurrent-version rules mean anything.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_object_lock_configuration" "this" {
  count  = var.object_lock_enabled ? 1 : 0
  bucket = aws_s3_bucket.this.id

  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  # An object (not a plain string) so that the count is known at plan time
  # even when the target bucket is created in the same configuration.
  count         = var.access_logging == null ? 0 : 1
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_logging.target_bucket
  target_prefix = coalesce(var.access_logging.target_prefix, "${var.bucket_name}/")
}

# The bucket policy (policies/bucket.json.tftpl) binds every principal, the
# account's own included: TLS 1.2+ only; an upload that asks for an encryption
# may ask only for SSE-KMS with the store key (one that asks for nothing gets
# that default: a "...IfExists" condition here would deny it, since IfExists is
# true when the header is absent), no customer-provided keys (SSE-C); and no PutObject without
# If-None-Match or If-Match on the keys statesync always writes conditionally
# (statesync.json, snapshots/, refs/, locks/, keys/, policy/, gc/, tags/ —
# sync/store/layout.py). objects/ and index/ are conditional for writers too,
# but repair puts a damaged pack or index back in place with the bytes its id
# names, so that rule is in the writer policies (iam.tf), not here.
locals {
  policy_vars = {
    bucket_arn  = aws_s3_bucket.this.arn
    store       = "${aws_s3_bucket.this.arn}/${local.key_prefix}"
    kms_key_arn = aws_kms_key.this.arn
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = templatefile("${path.module}/policies/bucket.json.tftpl", local.policy_vars)

  # A bucket policy cannot be written while the public access block is being
  # changed.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
