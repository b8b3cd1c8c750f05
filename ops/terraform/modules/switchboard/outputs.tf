# What the example root (and an operator) needs after apply. Every output here is used by
# examples/one-region: for DNS, re-exported for deploy commands, or both.

output "alb_dns_name" {
  description = "DNS name of the load balancer: point the chat domain at it (an alias record)."
  value       = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "Route 53 hosted zone id of the load balancer, for an alias record."
  value       = aws_lb.main.zone_id
}

output "alb_arn" {
  description = "ARN of the load balancer (to attach a WAF web ACL, for instance)."
  value       = aws_lb.main.arn
}

output "ecr_repository_url" {
  description = "Where to push the node's image: docker push <url>:<image_tag>."
  value       = aws_ecr_repository.node.repository_url
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.node.name
}

output "task_definition_arn" {
  description = "The node's current task definition; a one-off `switchboard migrate` runs it with the command overridden (docs/DEPLOY.md)."
  value       = aws_ecs_task_definition.node.arn
}

output "private_subnet_ids" {
  description = "Private subnets, for one-off tasks (migrate, create-user)."
  value       = aws_subnet.private[*].id
}

output "node_security_group_id" {
  description = "The nodes' security group, for one-off tasks that need Postgres or Redis."
  value       = aws_security_group.node.id
}

output "cognito_user_pool_id" {
  description = "The user pool's id (cognito.user_pool_id)."
  value       = aws_cognito_user_pool.main.id
}

output "cognito_client_id" {
  description = "The web app client's id (cognito.client_id), for the web and mobile apps."
  value       = aws_cognito_user_pool_client.web.id
}

output "cognito_hosted_ui_url" {
  description = "Base URL of the hosted UI; /oauth2/authorize and /oauth2/token are below it."
  value       = "https://${aws_cognito_user_pool_domain.main.domain}.auth.${local.region}.amazoncognito.com"
}

output "media_bucket" {
  description = "Name of the media bucket (media.s3.bucket)."
  value       = aws_s3_bucket.media.id
}

output "database_endpoint" {
  description = "Postgres host:port (the full URL with its password is in the database secret)."
  value       = aws_db_instance.postgres.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the Postgres credentials and database.url."
  value       = aws_secretsmanager_secret.database.arn
}

output "redis_endpoint" {
  description = "Address of the Redis primary."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "node_log_group" {
  description = "CloudWatch log group of the nodes (JSON lines)."
  value       = aws_cloudwatch_log_group.node.name
}
