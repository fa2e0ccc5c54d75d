locals {
  store_url = var.prefix == "" ? "s3://${aws_s3_bucket.this.id}" : "s3://${aws_s3_bucket.this.id}/${var.prefix}"
}

output "store_url" {
  description = "statesync store URL (use as --store or STATESYNC_STORE): s3://BUCKET/PREFIX, or s3://BUCKET when prefix is empty."
  value       = var.prefix == "" ? "s3://${aws_s3_bucket.this.id}" : "s3://${aws_s3_bucket.this.id}/${var.prefix}"
}

output "recipient" {
  description = "statesync aws-kms recipient for this store's key: aws-kms:<key ARN>."
  value       = "aws-kms:${aws_kms_key.this.arn}"
}

output "region" {
  description = "AWS region of the bucket (set AWS_REGION or the profile's region to it for statesync)."
  value       = aws_s3_bucket.this.region
}

output "bucket_name" {
  description = "Name of the store bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the store bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefix" {
  description = "Key prefix of the store inside the bucket (empty: bucket root)."
  value       = var.prefix
}

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key (SSE-KMS default key of the bucket and the aws-kms recipient key)."
  value       = aws_kms_key.this.arn
}

output "kms_key_alias" {
  description = "Alias of the KMS key (alias/...)."
  value       = aws_kms_alias.this.name
}

output "policy_arns" {
  description = "ARNs of the IAM policies, by kind: reader, writer, maintainer, admin. Attach them to your own roles, users or groups."
  value       = { for k, p in aws_iam_policy.access : k => p.arn }
}

output "role_arns" {
  description = "ARNs of the IAM roles created for the kinds that have trusted principals (reader, writer, maintainer, admin); kinds without trusted principals are absent."
  value       = { for k, r in aws_iam_role.access : k => r.arn }
}

output "environment_writer_policy_arns" {
  description = "ARNs of the per-environment writer policies, by environment (see environment_writers)."
  value       = { for env, p in aws_iam_policy.env_writer : env => p.arn }
}

output "environment_writer_role_arns" {
  description = "ARNs of the per-environment writer roles, by environment (environments given trusted principals only)."
  value       = { for env, r in aws_iam_role.env_writer : env => r.arn }
}

output "statesync_toml" {
  description = "A ready statesync.toml: the store and its aws-kms recipient (save it as statesync.toml in the folder you run statesync from)."
  value       = <<-EOT
    store = "${local.store_url}"

    [keys]
    recipients = ["aws-kms:${aws_kms_key.this.arn}"]
  EOT
}

output "environment" {
  description = "Environment variables statesync needs for this store, as a map (AWS_REGION: the bucket's region). Credentials come from the AWS SDK's own chain."
  value       = { AWS_REGION = aws_s3_bucket.this.region }
}

output "shell_exports" {
  description = "The same variables as shell export lines: eval \"$(terraform output -raw shell_exports)\"."
  value       = "export AWS_REGION=${aws_s3_bucket.this.region}\n"
}
