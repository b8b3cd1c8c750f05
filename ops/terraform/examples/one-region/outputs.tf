output "url" {
  description = "Where clients connect: the page at /, the WebSocket at /ws."
  value       = "https://${aws_route53_record.chat.fqdn}"
}

output "alb_arn" {
  description = "The load balancer, to attach a WAF web ACL to."
  value       = module.switchboard.alb_arn
}

output "ecr_repository_url" {
  description = "Push the node's image here (docs/DEPLOY.md, step 3)."
  value       = module.switchboard.ecr_repository_url
}

output "cluster_name" {
  description = "ECS cluster, for aws ecs commands."
  value       = module.switchboard.cluster_name
}

output "service_name" {
  description = "ECS service, for aws ecs commands."
  value       = module.switchboard.service_name
}

output "task_definition_arn" {
  description = "Task definition, for one-off tasks (switchboard migrate)."
  value       = module.switchboard.task_definition_arn
}

output "private_subnet_ids" {
  description = "Subnets for one-off tasks."
  value       = module.switchboard.private_subnet_ids
}

output "node_security_group_id" {
  description = "Security group for one-off tasks."
  value       = module.switchboard.node_security_group_id
}

output "cognito_user_pool_id" {
  description = "The user pool (for aws cognito-idp commands: the first user, the premium group)."
  value       = module.switchboard.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "The app client the web and mobile apps sign in with."
  value       = module.switchboard.cognito_client_id
}

output "cognito_hosted_ui_url" {
  description = "The hosted UI's base URL."
  value       = module.switchboard.cognito_hosted_ui_url
}

output "media_bucket" {
  description = "The media bucket."
  value       = module.switchboard.media_bucket
}

output "database_endpoint" {
  description = "Postgres host:port."
  value       = module.switchboard.database_endpoint
}

output "database_secret_arn" {
  description = "The secret with the Postgres credentials and URL."
  value       = module.switchboard.database_secret_arn
}

output "redis_endpoint" {
  description = "The Redis primary."
  value       = module.switchboard.redis_endpoint
}

output "node_log_group" {
  description = "The nodes' log group (aws logs tail <group> --follow)."
  value       = module.switchboard.node_log_group
}
