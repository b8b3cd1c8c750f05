# Switchboard on ECS Fargate in one AWS region: names, zones and the values every file shares.
#
# Layout (one file per concern):
#   network.tf     VPC, public subnets (load balancer, NAT), private subnets (tasks, data), endpoints
#   security.tf    security groups: internet -> ALB -> nodes -> Redis / Postgres
#   kms.tf         the customer-managed key for secrets, logs, S3, RDS and ElastiCache
#   alb.tf         the load balancer, TLS listener, target group on /readyz
#   ecs.tf         cluster, task definition (node + metrics collector), service
#   autoscaling.tf target tracking on CPU and on connections per task
#   data.tf        ElastiCache Redis, RDS Postgres
#   media.tf       the S3 media bucket, the log bucket
#   cognito.tf     user pool, app client, hosted-UI domain, premium group
#   secrets.tf     generated passwords and the Secrets Manager secrets the task reads
#   iam.tf         execution role, task role, flow-log and monitoring roles
#   ecr.tf         the image repository
#   alarms.tf      CloudWatch alarms (docs/DEPLOY.md lists them)

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The module uses the first az_count zones in name order (the provider sorts them); a zone AWS adds later sorts after them, so the zones in use do not change.
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # Private subnets are /20 (4,091 addresses: one per Fargate task, plus RDS and ElastiCache),
  # public ones /24 (the load balancer's nodes and the NAT gateways only).
  private_cidrs = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_cidrs  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 240 + i)]

  # The port the node listens on inside the task (SWITCHBOARD_LISTEN).
  node_port = 8080

  # The connection drain of a node on SIGTERM (bins/src/server.rs `Node::shutdown`): every
  # client is told 1012 and the node waits up to engine.shutdown_grace_secs for the sockets to
  # close, each close taking at most engine.close_timeout_ms; then it stops its rooms and
  # flushes the write-behind.
  drain_secs = var.shutdown_grace_secs + ceil(var.close_timeout_ms / 1000)

  tags = merge(var.tags, { "switchboard:deployment" = var.name })
}
