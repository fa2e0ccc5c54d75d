# IAM policies (always created) and roles (created when trusted principals are
# given) for the three kinds of statesync users, scoped to the store prefix.
#
#   reader: pull, log, show, diff, export, verify
#   writer: everything a reader does, plus push, promote, rollback, lock,
#           unlock, import, gc, keys (wrap data keys for the aws-kms recipient)
#   admin:  everything a writer does, plus access to old object versions
#           (restore/purge of what gc or an overwrite left behind)

locals {
  # s3:ListBucket is a bucket-level action: restrict it with s3:prefix.
  list_prefixes = var.prefix == "" ? [] : [var.prefix, "${var.prefix}/*"]

  kms_read_actions  = ["kms:Decrypt", "kms:DescribeKey"]
  kms_write_actions = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]

  s3_read_object_actions = ["s3:GetObject"]
  s3_write_object_actions = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
  ]
  s3_admin_object_actions = concat(local.s3_write_object_actions, [
    "s3:GetObjectVersion",
    "s3:DeleteObjectVersion",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
  ])

  roles = {
    reader = {
      description    = "statesync reader of ${local.store_url}"
      bucket_actions = ["s3:ListBucket"]
      object_actions = local.s3_read_object_actions
      kms_actions    = local.kms_read_actions
      trusted_arns   = var.reader_trusted_principal_arns
    }
    writer = {
      description    = "statesync writer of ${local.store_url}"
      bucket_actions = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
      object_actions = local.s3_write_object_actions
      kms_actions    = local.kms_write_actions
      trusted_arns   = var.writer_trusted_principal_arns
    }
    admin = {
      description    = "statesync admin of ${local.store_url}"
      bucket_actions = ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:ListBucketVersions"]
      object_actions = local.s3_admin_object_actions
      kms_actions    = local.kms_write_actions
      trusted_arns   = var.admin_trusted_principal_arns
    }
  }
}

data "aws_iam_policy_document" "access" {
  for_each = local.roles

  statement {
    sid       = "ListStore"
    effect    = "Allow"
    actions   = each.value.bucket_actions
    resources = [aws_s3_bucket.this.arn]

    dynamic "condition" {
      for_each = var.prefix == "" ? [] : [1]
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = local.list_prefixes
      }
    }
  }

  statement {
    sid       = "StoreObjects"
    effect    = "Allow"
    actions   = each.value.object_actions
    resources = [local.objects_arn]
  }

  statement {
    sid       = "StoreKey"
    effect    = "Allow"
    actions   = each.value.kms_actions
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_policy" "access" {
  for_each    = local.roles
  name        = "${var.name_prefix}-${var.bucket_name}-${each.key}"
  description = each.value.description
  policy      = data.aws_iam_policy_document.access[each.key].json
  tags        = var.tags
}

data "aws_iam_policy_document" "assume" {
  for_each = { for k, v in local.roles : k => v if length(v.trusted_arns) > 0 }

  statement {
    sid     = "AssumeStatesync${title(each.key)}"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "AWS"
      identifiers = each.value.trusted_arns
    }
  }
}

resource "aws_iam_role" "access" {
  for_each             = data.aws_iam_policy_document.assume
  name                 = "${var.name_prefix}-${var.bucket_name}-${each.key}"
  description          = local.roles[each.key].description
  assume_role_policy   = each.value.json
  max_session_duration = var.role_max_session_duration
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "access" {
  for_each   = aws_iam_role.access
  role       = each.value.name
  policy_arn = aws_iam_policy.access[each.key].arn
}
