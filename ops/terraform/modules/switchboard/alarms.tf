# The alarms docs/DEPLOY.md ("Alarms") explains, one table: what fires, on which metric, why
# that threshold. Each notifies alarm_topic_arns when it fires and when it clears.

locals {
  # Dimensions as maps, so every alarm below has one type.
  service_dimensions = tomap({ ClusterName = var.name, ServiceName = var.name })
  alb_dimensions     = tomap({ LoadBalancer = aws_lb.main.arn_suffix })
  tg_dimensions      = tomap({ LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.node.arn_suffix })
  db_dimensions      = tomap({ DBInstanceIdentifier = aws_db_instance.postgres.identifier })
  # ElastiCache names a replication group's nodes <group>-001, -002, ...: known before apply
  # (member_clusters is not), as for_each needs.
  redis_nodes = [for i in range(1, 3) : format("%s-%03d", aws_elasticache_replication_group.redis.replication_group_id, i)]

  alarms = merge(
    {
      # --- the load balancer and the service ---
      alb-5xx = {
        namespace = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", dimensions = local.alb_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 50, period = 300, periods = 1
        text      = "The load balancer answered over 50 5xx in 5 minutes: no healthy node, or nodes refusing connections"
      }
      unhealthy-nodes = {
        namespace = "AWS/ApplicationELB", metric = "UnHealthyHostCount", dimensions = local.tg_dimensions
        statistic = "Maximum", comparison = "GreaterThanOrEqualToThreshold", threshold = 1, period = 60, periods = 5
        text      = "A node has failed /readyz for 5 minutes (its store is unreachable or a task that fails the node died)"
      }
      healthy-nodes-low = {
        namespace = "AWS/ApplicationELB", metric = "HealthyHostCount", dimensions = local.tg_dimensions
        statistic = "Minimum", comparison = "LessThanThreshold", threshold = var.min_tasks, period = 60, periods = 3
        text      = "Fewer healthy nodes than min_tasks for 3 minutes"
      }
      service-cpu-high = {
        namespace = "AWS/ECS", metric = "CPUUtilization", dimensions = local.service_dimensions
        statistic = "Average", comparison = "GreaterThanThreshold", threshold = 85, period = 300, periods = 3
        text      = "Nodes above 85% CPU for 15 minutes: autoscaling is at max_tasks or cannot keep up"
      }
      service-memory-high = {
        namespace = "AWS/ECS", metric = "MemoryUtilization", dimensions = local.service_dimensions
        statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = 80, period = 300, periods = 2
        text      = "A node above 80% of its task memory: too many connections per task, or slow readers' queues"
      }
      # --- the node's own metrics (published by the collector) ---
      connections-near-cap = {
        namespace = "Switchboard", metric = "switchboard_connections", dimensions = local.service_dimensions
        statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = floor(var.max_connections_per_task * 0.9), period = 60, periods = 3
        text      = "A node holds over 90% of http.max_connections: new connections to it will be refused"
      }
      ring-short = {
        namespace = "Switchboard", metric = "switchboard_cluster_nodes", dimensions = local.service_dimensions
        statistic = "Minimum", comparison = "LessThanThreshold", threshold = var.min_tasks, period = 60, periods = 3
        text      = "A node sees fewer nodes in its ring than min_tasks for 3 minutes: Redis membership is failing"
      }
      write-behind-backlog = {
        namespace = "Switchboard", metric = "switchboard_write_behind_queued", dimensions = local.service_dimensions
        statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = 10000, period = 60, periods = 3
        text      = "Over 10,000 messages (10% of write_behind.max_queued) wait for Postgres on a node: sends will soon be refused busy"
      }
      write-behind-failures = {
        namespace = "Switchboard", metric = "switchboard_write_behind_failures_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 0, period = 60, periods = 3
        text      = "Write-behind commits failing for 3 minutes: Postgres is down or refusing writes (messages are delivered, not acknowledged)"
      }
      sends-refused-busy = {
        namespace = "Switchboard", metric = "switchboard_write_behind_busy_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 0, period = 300, periods = 1
        text      = "Sends refused because the write-behind queue was full"
      }
      forwarded-unanswered = {
        namespace = "Switchboard", metric = "switchboard_forward_unanswered_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 100, period = 300, periods = 1
        text      = "Over 100 forwarded commands in 5 minutes got no reply in time: a node or Redis is failing"
      }
      bus-failures = {
        namespace = "Switchboard", metric = "switchboard_bus_failures_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 0, period = 60, periods = 3
        text      = "Redis publishes failing for 3 minutes: cross-node traffic is lost (clients get busy and room resets)"
      }
      task-deaths = {
        namespace = "Switchboard", metric = "switchboard_task_deaths_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 0, period = 60, periods = 1
        text      = "A long-lived task of a node died and failed the node (/readyz 503): ECS replaces it once the ALB marks it unhealthy"
      }
      cognito-check-failures = {
        namespace = "Switchboard", metric = "switchboard_cognito_check_failures_total", dimensions = local.service_dimensions
        statistic = "Sum", comparison = "GreaterThanThreshold", threshold = 100, period = 300, periods = 2
        text      = "Revocation checks failing (throttled by the pool's quotas, or AdminGetUser not allowed): revoked users are not being cut off"
      }
      open-files-high = {
        namespace = "Switchboard", metric = "process_open_fds", dimensions = local.service_dimensions
        statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = floor(var.nofile_limit * 0.8), period = 60, periods = 3
        text      = "A node uses over 80% of its open-file limit"
      }
      # --- Postgres ---
      db-cpu-high = {
        namespace = "AWS/RDS", metric = "CPUUtilization", dimensions = local.db_dimensions
        statistic = "Average", comparison = "GreaterThanThreshold", threshold = 70, period = 300, periods = 3
        text      = "Postgres above 70% CPU for 15 minutes: the write-behind will back up (docs/DEPLOY.md, Sizing: 0.29 ms of Postgres CPU per message)"
      }
      db-storage-low = {
        namespace = "AWS/RDS", metric = "FreeStorageSpace", dimensions = local.db_dimensions
        statistic = "Minimum", comparison = "LessThanThreshold", threshold = 10 * 1024 * 1024 * 1024, period = 300, periods = 1
        text      = "Under 10 GiB free on Postgres (storage autoscaling is at its ceiling or cannot keep up)"
      }
      db-memory-low = {
        namespace = "AWS/RDS", metric = "FreeableMemory", dimensions = local.db_dimensions
        statistic = "Minimum", comparison = "LessThanThreshold", threshold = 512 * 1024 * 1024, period = 300, periods = 3
        text      = "Under 512 MiB freeable memory on Postgres"
      }
      db-connections-high = {
        namespace = "AWS/RDS", metric = "DatabaseConnections", dimensions = local.db_dimensions
        statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = floor(var.max_tasks * var.db_pool_size * 1.1), period = 300, periods = 1
        text      = "More Postgres connections than max_tasks x db_pool_size: something besides the nodes is connecting"
      }
    },
    # --- Redis: each node of the replication group ---
    { for id in local.redis_nodes : "redis-cpu-${id}" => {
      namespace = "AWS/ElastiCache", metric = "EngineCPUUtilization", dimensions = tomap({ CacheClusterId = id })
      statistic = "Average", comparison = "GreaterThanThreshold", threshold = 70, period = 300, periods = 3
      text      = "Redis's engine thread above 70% for 15 minutes: forwarding will slow (one thread serves every publish)"
    } },
    { for id in local.redis_nodes : "redis-memory-${id}" => {
      namespace = "AWS/ElastiCache", metric = "DatabaseMemoryUsagePercentage", dimensions = tomap({ CacheClusterId = id })
      statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = 80, period = 300, periods = 1
      text      = "Redis memory above 80%: pub/sub output buffers of a slow node, or keys left by a removed deployment"
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "main" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.text
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.periods
  # No data is no news for counters (nothing failed); the gauges' absence shows in the
  # ring and health-host alarms instead.
  treat_missing_data = "notBreaching"
  alarm_actions      = var.alarm_topic_arns
  ok_actions         = var.alarm_topic_arns
  tags               = local.tags
}
