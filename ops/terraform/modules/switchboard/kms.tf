# One customer-managed key for everything this deployment encrypts at rest: secrets, log groups,
# the media bucket, the database, Performance Insights, Redis and the image repository. Rotated
# yearly by KMS. The account's IAM policies decide who uses it (the task role only through S3,
# the execution role only to read secrets); CloudWatch Logs is let in for this deployment's
# log groups only.

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key alone, and kms:* for the account root is AWS's default key policy: it hands the key's use to the account's IAM policies (see iam.tf for the grants), without which the key could become unmanageable.
  #checkov:skip=CKV_AWS_111:As CKV_AWS_109: in a key policy "*" is this key, and the account-root statement delegates to IAM.
  #checkov:skip=CKV_AWS_356:As CKV_AWS_109: in a key policy "*" is this key.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsForThisDeployment"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/switchboard/${var.name}/*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "Switchboard ${var.name}: secrets, logs, media, database, cache"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "main" {
  name          = "alias/switchboard-${var.name}"
  target_key_id = aws_kms_key.main.key_id
}
