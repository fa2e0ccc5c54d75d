variable "bucket_name" {
  description = "Name of the S3 bucket that holds the statesync store. Globally unique; 3-63 lowercase letters, digits, hyphens (no dots: virtual-hosted TLS would break)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name)) && !startswith(var.bucket_name, "xn--") && !endswith(var.bucket_name, "-s3alias")
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits and hyphens, start and end with a letter or digit, and not use the reserved xn-- / -s3alias forms."
  }
}

variable "prefix" {
  description = "Key prefix of the store inside the bucket, without leading or trailing slash (e.g. \"teams/platform\"). Empty puts the store at the bucket root. IAM policies are scoped to it."
  type        = string
  default     = ""

  validation {
    condition     = var.prefix == "" || (can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.prefix)) && alltrue([for s in split("/", var.prefix) : s != "." && s != ".."]))
    error_message = "prefix must be empty or slash-separated segments of letters, digits and !_.*'()- with no leading, trailing or doubled slash and no \".\" or \"..\" segment."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects (every snapshot in the store). Leave false in production."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (overwritten refs, objects removed by `statesync gc`) are permanently deleted. This is the window in which a deleted or overwritten object can still be recovered."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_versions_to_keep" {
  description = "If set, this many of the newest noncurrent versions of each object are kept even after noncurrent_version_expiration_days (1-100). Null keeps none beyond the time limit."
  type        = number
  default     = null

  validation {
    condition     = var.noncurrent_versions_to_keep == null ? true : (var.noncurrent_versions_to_keep >= 1 && var.noncurrent_versions_to_keep <= 100)
    error_message = "noncurrent_versions_to_keep must be null or between 1 and 100."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads (e.g. from an interrupted push) are aborted and their parts deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "object_lock_enabled" {
  description = "Enable S3 Object Lock (WORM) with a default retention on every object version. Can only be chosen when the bucket is created. Overwrites and deletes still work (they add versions / delete markers), but no version can be purged before its retention ends."
  type        = bool
  default     = false
}

variable "object_lock_mode" {
  description = "Default Object Lock retention mode: GOVERNANCE (principals with s3:BypassGovernanceRetention can purge early) or COMPLIANCE (nobody can, not even the root user)."
  type        = string
  default     = "GOVERNANCE"

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "object_lock_retention_days" {
  description = "Default Object Lock retention, in days, applied to each new object version when object_lock_enabled is true."
  type        = number
  default     = 30

  validation {
    condition     = var.object_lock_retention_days >= 1 && floor(var.object_lock_retention_days) == var.object_lock_retention_days
    error_message = "object_lock_retention_days must be a whole number of days, at least 1."
  }
}

variable "access_logging" {
  description = "S3 server access logging for the store bucket: target_bucket is an existing bucket that lets the S3 logging service write to it (not the store bucket itself); target_prefix defaults to \"<bucket_name>/\". Null disables access logging."
  type = object({
    target_bucket = string
    target_prefix = optional(string)
  })
  default = null
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period (7-30 days) before the customer-managed KMS key is deleted after `terraform destroy`. Deleting the key makes every object and every aws-kms-wrapped data key in the store unreadable."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be between 7 and 30."
  }
}

variable "kms_key_alias" {
  description = "Alias for the KMS key, without the \"alias/\" prefix. Null uses \"statesync-<bucket_name>\"."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_alias == null ? true : can(regex("^[A-Za-z0-9/_-]{1,250}$", var.kms_key_alias)) && !startswith(var.kms_key_alias, "aws/")
    error_message = "kms_key_alias must be 1-250 characters of letters, digits, /, _ and -, and must not start with \"aws/\"."
  }
}

variable "name_prefix" {
  description = "Prefix for the names of the IAM policies and roles this module creates."
  type        = string
  default     = "statesync"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,32}$", var.name_prefix))
    error_message = "name_prefix must be 1-32 characters valid in IAM names (letters, digits, +=,.@_-)."
  }
}

variable "reader_trusted_principal_arns" {
  description = "ARNs of IAM principals (accounts, roles, users) allowed to assume the reader role. Empty: the reader role is not created (the reader policy still is, to attach elsewhere)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.reader_trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "reader_trusted_principal_arns must contain IAM ARNs (arn:aws:iam::123456789012:...)."
  }
}

variable "writer_trusted_principal_arns" {
  description = "ARNs of IAM principals allowed to assume the writer role. Empty: the writer role is not created (the writer policy still is)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.writer_trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "writer_trusted_principal_arns must contain IAM ARNs (arn:aws:iam::123456789012:...)."
  }
}

variable "maintainer_trusted_principal_arns" {
  description = "ARNs of IAM principals allowed to assume the maintainer role (gc, repair, gc policy, LangGraph thread deletion: the only deletes outside locks/). Empty: the maintainer role is not created (the maintainer policy still is)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.maintainer_trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "maintainer_trusted_principal_arns must contain IAM ARNs (arn:aws:iam::123456789012:...)."
  }
}

variable "environment_writers" {
  description = "Per-environment writers: environment name => ARNs of IAM principals that may assume its writer role. Each gets a policy that moves only that environment (its ref, keyring, lease and tag entries, plus the shared immutable packs, indexes and manifests) and uses KMS data keys only with that environment's encryption context. An empty list creates the policy without a role."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for env in keys(var.environment_writers) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", env)) && !strcontains(env, "..")])
    error_message = "environment_writers keys must be statesync environment names: a letter or digit, then letters, digits, '.', '_' or '-' (at most 63, no '..')."
  }

  validation {
    condition     = alltrue(flatten([for arns in values(var.environment_writers) : [for a in arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))]]))
    error_message = "environment_writers values must be lists of IAM ARNs (arn:aws:iam::123456789012:...)."
  }
}

variable "admin_trusted_principal_arns" {
  description = "ARNs of IAM principals allowed to assume the admin role. Empty: the admin role is not created (the admin policy still is)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "admin_trusted_principal_arns must contain IAM ARNs (arn:aws:iam::123456789012:...)."
  }
}

variable "role_max_session_duration" {
  description = "Maximum session duration, in seconds (3600-43200), of the reader, writer and admin roles."
  type        = number
  default     = 3600

  validation {
    condition     = var.role_max_session_duration >= 3600 && var.role_max_session_duration <= 43200
    error_message = "role_max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
