variable "project_id" {
  description = "ID of the Google Cloud project that holds the bucket and the KMS key ring."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits and hyphens, starting with a letter)."
  }
}

variable "bucket_name" {
  description = "Name of the Cloud Storage bucket that holds the store (globally unique, 3-63 lowercase letters, digits, hyphens and underscores; no dots)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.bucket_name)) && !startswith(var.bucket_name, "goog")
    error_message = "bucket_name must be 3-63 lowercase letters, digits, hyphens and underscores, start and end with a letter or digit, and not start with \"goog\"."
  }
}

variable "location" {
  description = "Location of the bucket: a region (e.g. \"europe-west1\"), a dual-region or a multi-region (e.g. \"EU\")."
  type        = string
}

variable "kms_location" {
  description = "Location of the KMS key ring. It must match the bucket location (a region for a regional bucket, the multi-region such as \"eu\" for a multi-region bucket). Null uses lower(location)."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Object name prefix of the store inside the bucket, without leading or trailing slash (e.g. \"teams/platform\"). Empty puts the store at the bucket root. When set, reader and writer access is limited to it with IAM Conditions."
  type        = string
  default     = ""

  validation {
    condition     = var.prefix == "" || (can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.prefix)) && alltrue([for s in split("/", var.prefix) : s != "." && s != ".."]))
    error_message = "prefix must be empty or slash-separated segments of letters, digits and !_.*'()- with no leading, trailing or doubled slash and no \".\" or \"..\" segment."
  }
}

variable "storage_class" {
  description = "Default storage class of the bucket."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"], var.storage_class)
    error_message = "storage_class must be STANDARD, NEARLINE, COLDLINE or ARCHIVE."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects (every snapshot in the store). Leave false in production."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (overwritten refs, objects removed by `statesync gc`) are deleted. This is the window in which a deleted or overwritten object can still be recovered."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete XML API multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "soft_delete_retention_days" {
  description = "Days a deleted or overwritten object stays restorable through soft delete (0 turns soft delete off, otherwise 7-90)."
  type        = number
  default     = 7

  validation {
    condition     = var.soft_delete_retention_days == 0 || (var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90)
    error_message = "soft_delete_retention_days must be 0 or between 7 and 90."
  }
}

variable "key_ring_name" {
  description = "Name of the KMS key ring. Key rings cannot be deleted in Google Cloud: a name can be used only once per project and location."
  type        = string
  default     = "statesync"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,63}$", var.key_ring_name))
    error_message = "key_ring_name must be 1-63 letters, digits, underscores and hyphens."
  }
}

variable "key_name" {
  description = "Name of the KMS key: the bucket's default (CMEK) key and the store's gcp-kms recipient."
  type        = string
  default     = "statesync"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,63}$", var.key_name))
    error_message = "key_name must be 1-63 letters, digits, underscores and hyphens."
  }
}

variable "key_rotation_period" {
  description = "Rotation period of the KMS key, in seconds with an \"s\" suffix (at least 86400s; default 7776000s = 90 days). Old key versions stay enabled, so existing data stays readable."
  type        = string
  default     = "7776000s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.key_rotation_period)) && try(tonumber(trimsuffix(var.key_rotation_period, "s")) >= 86400, false)
    error_message = "key_rotation_period must be a number of seconds with an \"s\" suffix, at least 86400s."
  }
}

variable "key_protection_level" {
  description = "Protection level of the KMS key versions: SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.key_protection_level)
    error_message = "key_protection_level must be SOFTWARE or HSM."
  }
}

variable "reader_members" {
  description = "IAM members that may read the store (e.g. \"user:ana@example.com\", \"group:...\", \"serviceAccount:...\"): roles/storage.objectViewer on the bucket and roles/cloudkms.cryptoKeyDecrypter on the key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.reader_members : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", m))])
    error_message = "reader_members must be IAM members such as user:, group:, serviceAccount:, domain:, principal: or principalSet: (allUsers and allAuthenticatedUsers are not allowed)."
  }
}

variable "writer_members" {
  description = "IAM members that may read and write the store: roles/storage.objectUser on the bucket and roles/cloudkms.cryptoKeyEncrypterDecrypter on the key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.writer_members : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", m))])
    error_message = "writer_members must be IAM members such as user:, group:, serviceAccount:, domain:, principal: or principalSet: (allUsers and allAuthenticatedUsers are not allowed)."
  }
}

variable "access_logging" {
  description = "Cloud Storage usage logs of the bucket: log_bucket is an existing bucket (not this one) that Cloud Storage may write to; log_object_prefix defaults to the bucket name. Null disables usage logging (Cloud Audit Logs data-access logs, set at project level, are the alternative)."
  type = object({
    log_bucket        = string
    log_object_prefix = optional(string)
  })
  default = null
}

variable "labels" {
  description = "Labels applied to the bucket and the KMS key."
  type        = map(string)
  default     = {}
}
