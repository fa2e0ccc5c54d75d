# IAM policies (always created) and roles (created when trusted principals are
# given) for the kinds of statesync users, scoped to the store prefix. The
# object and key statements are JSON templates in policies/ (the test suite
# evaluates them against every request statesync makes: tests/terraform/).
#
#   reader:     pull, log, show, diff, export, verify
#   writer:     a reader, plus init, push, promote, rollback, lock, unlock,
#               import, keys, promotion rules, the LangGraph saver's writes.
#               It deletes only leases (locks/), and writes packs and indexes
#               only conditionally (they are immutable).
#   maintainer: a writer, plus gc (forgets snapshots, deletes packs and
#               indexes, publishes the gc generation), gc policy set/clear,
#               repair (puts a damaged pack or index back in place, moves it
#               aside to damaged/) and the LangGraph saver's delete_thread,
#               delete_for_runs and prune.
#   admin:      a maintainer, plus old object versions (restore or purge what gc
#               or an overwrite left behind).
#
# environment_writers adds, per environment, a writer that can move only that
# environment: its ref, keyring and lease, its tag entries, the shared
# content-addressed objects (packs, indexes, manifests), and KMS data keys whose
# encryption context names that environment (statesync:env).

locals {
  # s3:ListBucket is a bucket-level action: restrict it with s3:prefix.
  list_prefixes = var.prefix == "" ? [] : [var.prefix, "${var.prefix}/*"]

  # Which templates of policies/ make each kind (Sids are unique across them).
  role_documents = {
    reader     = ["reader"]
    writer     = ["reader", "writer", "content_deny"]
    maintainer = ["reader", "writer", "maintainer"]
    admin      = ["reader", "writer", "maintainer", "admin"]
  }
  env_writer_documents = ["env_writer", "content_deny"]

  roles = {
    reader = {
      description    = "statesync reader of ${local.store_url}"
      bucket_actions = ["s3:ListBucket"]
      trusted_arns   = var.reader_trusted_principal_arns
    }
    writer = {
      description    = "statesync writer of ${local.store_url}"
      bucket_actions = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
      trusted_arns   = var.writer_trusted_principal_arns
    }
    maintainer = {
      description    = "statesync maintainer (gc, repair) of ${local.store_url}"
      bucket_actions = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
      trusted_arns   = var.maintainer_trusted_principal_arns
    }
    admin = {
      description    = "statesync admin of ${local.store_url}"
      bucket_actions = ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:ListBucketVersions"]
      trusted_arns   = var.admin_trusted_principal_arns
    }
  }
}

data "aws_iam_policy_document" "access" {
  for_each = local.roles

  source_policy_documents = [
    for doc in local.role_documents[each.key] :
    templatefile("${path.module}/policies/${doc}.json.tftpl", local.policy_vars)
  ]

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

# --------------------------------------------------------------------------
# Per-environment writers (optional)
# --------------------------------------------------------------------------

data "aws_iam_policy_document" "env_writer" {
  for_each = var.environment_writers

  source_policy_documents = [
    for doc in local.env_writer_documents :
    templatefile("${path.module}/policies/${doc}.json.tftpl", merge(local.policy_vars, {
      env    = each.key
      region = aws_s3_bucket.this.region
    }))
  ]

  statement {
    sid       = "ListStore"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
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
}

resource "aws_iam_policy" "env_writer" {
  for_each    = var.environment_writers
  name        = "${var.name_prefix}-${var.bucket_name}-writer-${each.key}"
  description = "statesync writer of environment ${each.key} in ${local.store_url}"
  policy      = data.aws_iam_policy_document.env_writer[each.key].json
  tags        = var.tags
}

data "aws_iam_policy_document" "env_assume" {
  for_each = { for env, arns in var.environment_writers : env => arns if length(arns) > 0 }

  statement {
    sid     = "AssumeStatesyncEnvironmentWriter"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "AWS"
      identifiers = each.value
    }
  }
}

resource "aws_iam_role" "env_writer" {
  for_each             = data.aws_iam_policy_document.env_assume
  name                 = "${var.name_prefix}-${var.bucket_name}-writer-${each.key}"
  description          = "statesync writer of environment ${each.key} in ${local.store_url}"
  assume_role_policy   = each.value.json
  max_session_duration = var.role_max_session_duration
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = length("${var.name_prefix}-${var.bucket_name}-writer-${each.key}") <= 64
      error_message = "IAM role names are at most 64 characters: shorten name_prefix, bucket_name or the environment name ${each.key}."
    }
  }
}

resource "aws_iam_role_policy_attachment" "env_writer" {
  for_each   = aws_iam_role.env_writer
  role       = each.value.name
  policy_arn = aws_iam_policy.env_writer[each.key].arn
}
