# One region, from an empty account (docs/DEPLOY.md): a certificate for the chat domain, the
# Switchboard module, the domain's alias record and an alarm topic.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "app" = "switchboard"
    }
  }
}

# --- the certificate, validated in the hosted zone --------------------------------------------

resource "aws_acm_certificate" "chat" {
  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in aws_acm_certificate.chat.domain_validation_options : o.domain_name => o
  }
  zone_id         = var.hosted_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "chat" {
  certificate_arn         = aws_acm_certificate.chat.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

# --- alarms go to a topic (and to an address, when given) -------------------------------------

# CloudWatch cannot publish to a topic under the AWS-managed SNS key (its policy cannot name
# CloudWatch), so the topic has a key of its own that lets CloudWatch in.
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key alone; the account-root statement is AWS's default key policy, delegating to IAM.
  #checkov:skip=CKV_AWS_111:As CKV_AWS_109.
  #checkov:skip=CKV_AWS_356:As CKV_AWS_109.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchPublishesAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description         = "Switchboard ${var.name}: the alarm topic"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.alarms_key.json
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- Switchboard ------------------------------------------------------------------------------

locals {
  web_origin  = "https://${var.domain_name}"
  web_origins = concat([local.web_origin], var.extra_web_origins)
}

module "switchboard" {
  source = "../../modules/switchboard"

  name                  = var.name
  certificate_arn       = aws_acm_certificate_validation.chat.certificate_arn
  image_tag             = var.image_tag
  web_origins           = local.web_origins
  cognito_domain_prefix = var.cognito_domain_prefix
  cognito_callback_urls = concat([for p in var.callback_paths : "${local.web_origin}${p}"], var.extra_web_origins)
  cognito_logout_urls   = [for p in var.callback_paths : "${local.web_origin}${p}"]
  min_tasks             = var.min_tasks
  max_tasks             = var.max_tasks
  alarm_topic_arns      = [aws_sns_topic.alarms.arn]
  node_env              = var.node_env
  tags                  = { "switchboard:example" = "one-region" }
}

# --- the chat domain points at the load balancer ----------------------------------------------

resource "aws_route53_record" "chat" {
  zone_id = var.hosted_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = module.switchboard.alb_dns_name
    zone_id                = module.switchboard.alb_zone_id
    evaluate_target_health = true
  }
}
