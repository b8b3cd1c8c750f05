# Every input of the module. Defaults follow docs/DEPLOY.md "Sizing"; the node's own settings
# are passed as SWITCHBOARD_* variables (README "Configuration").

# --- naming and network ---------------------------------------------------------------------

variable "name" {
  description = "Name of this deployment: prefixes every resource, the Redis key prefix and the ECS cluster and service names. Lowercase letters, digits and hyphens."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2 to 20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "Address range of the VPC. Private subnets take /20s from its start, public ones /24s near its end, so a /16 is expected."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr must be a CIDR block of /16 or larger."
  }
}

variable "az_count" {
  description = "Availability zones used (2 or 3): one public and one private subnet in each. RDS Multi-AZ, ElastiCache failover and the service's tasks spread over them."
  type        = number
  default     = 2
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; a zone's loss then cuts the others' outbound HTTPS to Cognito) instead of one per zone."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "Create interface VPC endpoints for ECR, CloudWatch Logs and Secrets Manager, so image pulls, logs and secrets stay off the NAT gateways. The S3 gateway endpoint is always created."
  type        = bool
  default     = false
}

# --- load balancer ----------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ARN of the ACM certificate (in this region) for the load balancer's HTTPS listener, covering the domain clients connect to."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_ingress_cidrs" {
  description = "Client address ranges allowed to reach the load balancer (ports 443, and 80 which only redirects)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_idle_timeout_secs" {
  description = "Load balancer idle timeout: a WebSocket with no frame either way for this long is closed by the ALB. Clients ping (PROTOCOL ping) well within it."
  type        = number
  default     = 3600
  validation {
    condition     = var.alb_idle_timeout_secs >= 60 && var.alb_idle_timeout_secs <= 4000
    error_message = "alb_idle_timeout_secs must be between 60 and 4000 (the ALB's maximum)."
  }
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer (turn off before terraform destroy)."
  type        = bool
  default     = true
}

variable "shutdown_grace_secs" {
  description = "engine.shutdown_grace_secs: how long a node on SIGTERM waits for its clients (told 1012) to close before stopping anyway."
  type        = number
  default     = 10
  validation {
    condition     = var.shutdown_grace_secs >= 1 && var.shutdown_grace_secs <= 90
    error_message = "shutdown_grace_secs must be between 1 and 90 (ECS allows a container at most 120 s to stop)."
  }
}

variable "close_timeout_ms" {
  description = "engine.close_timeout_ms: how long one closing connection may take to write its final frames."
  type        = number
  default     = 1000
  validation {
    condition     = var.close_timeout_ms >= 100 && var.close_timeout_ms <= 10000
    error_message = "close_timeout_ms must be between 100 and 10000."
  }
}

variable "deregistration_delay_secs" {
  description = "Target group deregistration delay. Must exceed the node's drain (shutdown_grace_secs + close_timeout_ms), so that a node stopped at the moment it is deregistered (Fargate Spot, a failed health check) closes its clients with 1012 before the ALB cuts them. ECS waits this long on every task a deploy or scale-in replaces (docs/DEPLOY.md, Upgrades)."
  type        = number
  default     = 30
  validation {
    condition     = var.deregistration_delay_secs > var.shutdown_grace_secs + ceil(var.close_timeout_ms / 1000) && var.deregistration_delay_secs <= 3600
    error_message = "deregistration_delay_secs must exceed shutdown_grace_secs + close_timeout_ms (the node's drain) and be at most 3600."
  }
}

variable "stop_timeout_secs" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL: the drain (shutdown_grace_secs + close_timeout_ms) plus time to stop rooms and flush the write-behind."
  type        = number
  default     = 40
  validation {
    condition     = var.stop_timeout_secs >= var.shutdown_grace_secs + ceil(var.close_timeout_ms / 1000) + 10 && var.stop_timeout_secs <= 120
    error_message = "stop_timeout_secs must be at least the drain plus 10 s for the flush, and at most 120 (Fargate's limit)."
  }
}

# --- the service ------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the node's image in the module's ECR repository (output ecr_repository_url), e.g. the git commit it was built from. Tags are immutable."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "task_cpu" {
  description = "CPU units of a task (1024 = 1 vCPU), the node and the metrics collector together. docs/DEPLOY.md derives 2048 from BENCHMARKS.md."
  type        = number
  default     = 2048
  validation {
    condition     = contains([1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Memory of a task in MiB (a Fargate size valid for task_cpu). docs/DEPLOY.md derives 4096 for 20,000 connections per task."
  type        = number
  default     = 4096
  validation {
    condition     = var.task_memory >= 2048 && var.task_memory <= 122880
    error_message = "task_memory must be between 2048 and 122880 MiB."
  }
}

variable "collector_cpu" {
  description = "CPU units reserved for the metrics collector sidecar (out of task_cpu)."
  type        = number
  default     = 128
}

variable "collector_memory" {
  description = "Memory in MiB reserved for the metrics collector sidecar (out of task_memory)."
  type        = number
  default     = 256
}

variable "collector_image" {
  description = "Image of the AWS Distro for OpenTelemetry collector that scrapes the node's /metrics and publishes the autoscaling and alarm metrics to CloudWatch."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "min_tasks" {
  description = "Fewest tasks the service runs (and its desired count at creation): at least 2, in different zones, so a task's or a zone's loss leaves the service up."
  type        = number
  default     = 2
  validation {
    condition     = var.min_tasks >= 2
    error_message = "min_tasks must be at least 2."
  }
}

variable "max_tasks" {
  description = "Most tasks autoscaling may run."
  type        = number
  default     = 12
  validation {
    condition     = var.max_tasks >= var.min_tasks
    error_message = "max_tasks must be at least min_tasks."
  }
}

variable "connections_per_task_target" {
  description = "Autoscaling target: average open WebSockets per task (the node's switchboard_connections gauge). docs/DEPLOY.md: 20,000 keeps a 4 GiB task under half its memory."
  type        = number
  default     = 20000
}

variable "max_connections_per_task" {
  description = "http.max_connections: the hard cap of sockets per node, beyond which new connections get 503. Room above connections_per_task_target for the clients of a lost task."
  type        = number
  default     = 40000
  validation {
    condition     = var.max_connections_per_task > var.connections_per_task_target
    error_message = "max_connections_per_task must exceed connections_per_task_target."
  }
}

variable "nofile_limit" {
  description = "The task's open-file limit (soft and hard): every socket is a file, so it must exceed max_connections_per_task with room for the store, Redis and the process."
  type        = number
  default     = 65536
  validation {
    condition     = var.nofile_limit >= var.max_connections_per_task + 1024 && var.nofile_limit <= 1048576
    error_message = "nofile_limit must be at least max_connections_per_task + 1024 and at most 1048576 (Fargate's ceiling)."
  }
}

variable "cpu_target_percent" {
  description = "Autoscaling target: average CPU utilisation of the service's tasks, in percent."
  type        = number
  default     = 60
  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "migrate_on_start" {
  description = "database.migrate_on_start: nodes apply pending migrations at start (under an advisory lock). Set false to run `switchboard migrate` as a one-off task instead (docs/DEPLOY.md, Upgrades)."
  type        = bool
  default     = true
}

variable "db_pool_size" {
  description = "database.pool_size: Postgres connections per node. max_tasks x this must stay under the instance's max_connections."
  type        = number
  default     = 16
}

variable "node_env" {
  description = "Further node settings as SWITCHBOARD_* environment variables (README, Configuration), e.g. { SWITCHBOARD_LIMITS__MAX_TEXT_BYTES = \"4096\" }. They override the module's own."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.node_env) : can(regex("^SWITCHBOARD_[A-Z0-9_]+$", k))])
    error_message = "Every key of node_env must be a SWITCHBOARD_* variable name."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the node's logs, the collector's metric logs and the VPC flow logs."
  type        = number
  default     = 365
}

variable "exported_metrics" {
  description = "Node metrics (docs/METRICS.md names) the collector publishes to CloudWatch under the Switchboard namespace, by ClusterName and ServiceName. switchboard_connections drives autoscaling; the others back alarms."
  type        = list(string)
  default = [
    "switchboard_connections",
    "switchboard_cluster_nodes",
    "switchboard_write_behind_queued",
    "switchboard_write_behind_failures_total",
    "switchboard_write_behind_busy_total",
    "switchboard_forward_queued",
    "switchboard_forward_unanswered_total",
    "switchboard_bus_failures_total",
    "switchboard_bus_gaps_total",
    "switchboard_task_deaths_total",
    "switchboard_room_restarts_total",
    "switchboard_command_store_errors_total",
    "switchboard_cognito_check_failures_total",
    "process_resident_memory_bytes",
    "process_open_fds",
  ]
  validation {
    condition     = contains(var.exported_metrics, "switchboard_connections")
    error_message = "exported_metrics must include switchboard_connections (autoscaling reads it)."
  }
}

# --- Redis and Postgres -----------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type (a primary and a replica in another zone)."
  type        = string
  default     = "cache.m7g.large"
}

variable "redis_engine_version" {
  description = "Redis OSS engine version of the ElastiCache replication group."
  type        = string
  default     = "7.1"
}

variable "redis_tls" {
  description = "Encrypt Redis traffic in transit (TLS, rediss://) with an AUTH token. Needs a node built with Redis TLS support; today's node speaks plain TCP to Redis, so leave false until it does (docs/DEPLOY.md)."
  type        = bool
  default     = false
}

variable "db_instance_class" {
  description = "RDS instance class of the Postgres primary (and its Multi-AZ standby)."
  type        = string
  default     = "db.m7g.large"
}

variable "db_engine_version" {
  description = "Postgres major version on RDS (the parameter group family follows it)."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database in GB; it grows by itself up to db_max_allocated_storage_gb."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage_gb" {
  description = "Ceiling for RDS storage autoscaling, in GB."
  type        = number
  default     = 1000
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off before terraform destroy)."
  type        = bool
  default     = true
}

variable "db_tls" {
  description = "Require TLS for Postgres connections (rds.force_ssl = 1). Needs a node built with Postgres TLS support; today's node connects without TLS, so leave false until it does (docs/DEPLOY.md)."
  type        = bool
  default     = false
}

# --- media, identity ------------------------------------------------------------------------

variable "web_origins" {
  description = "Origins of the web client (e.g. https://chat.example.com), allowed to PUT and GET media with presigned URLs (the bucket's CORS)."
  type        = list(string)
  validation {
    condition     = length(var.web_origins) > 0 && alltrue([for o in var.web_origins : can(regex("^https?://[^/]+$", o))])
    error_message = "web_origins must list at least one origin, scheme://host[:port] without a path."
  }
}

variable "media_noncurrent_days" {
  description = "Days a deleted or overwritten media object (an unattached upload the node swept, a deleted attachment) stays recoverable as a noncurrent version before the lifecycle rule removes it."
  type        = number
  default     = 30
  validation {
    condition     = var.media_noncurrent_days >= 1
    error_message = "media_noncurrent_days must be at least 1."
  }
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted-UI domain: https://<prefix>.auth.<region>.amazoncognito.com. Globally unique within the region."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.cognito_domain_prefix)) && !can(regex("aws|amazon|cognito", var.cognito_domain_prefix))
    error_message = "cognito_domain_prefix must be lowercase letters, digits and hyphens, and may not contain aws, amazon or cognito."
  }
}

variable "cognito_callback_urls" {
  description = "Where the hosted UI may send users back with an authorization code (the web client's callback page). HTTPS, except http://localhost for development."
  type        = list(string)
  validation {
    condition     = length(var.cognito_callback_urls) > 0
    error_message = "cognito_callback_urls must name at least one URL."
  }
}

variable "cognito_logout_urls" {
  description = "Where the hosted UI may send users after sign-out."
  type        = list(string)
  default     = []
}

variable "premium_group" {
  description = "Name of the user-pool group whose members upload on the premium plan (cognito.premium_group); null for none."
  type        = string
  default     = "premium"
  nullable    = true
}

variable "revoke_within_secs" {
  description = "cognito.revoke_within_secs: how soon a disabled, deleted or signed-out user loses their connections. Each round costs up to two Cognito calls per connected user (README, Cognito): mind the pool's quotas."
  type        = number
  default     = 60
}

variable "alarm_topic_arns" {
  description = "SNS topics notified when an alarm fires or clears (empty: alarms exist but notify nobody)."
  type        = list(string)
  default     = []
}
