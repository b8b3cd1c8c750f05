# The nodes: an ECS cluster, one task definition (the node and a metrics collector beside it)
# and a service of at least two tasks behind the load balancer.

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "node" {
  name              = "/switchboard/${var.name}/node"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
  tags              = local.tags
}

# Where the collector writes the node's metrics as CloudWatch embedded-metric-format records.
resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/switchboard/${var.name}/metrics"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
  tags              = local.tags
}

locals {
  image = "${aws_ecr_repository.node.repository_url}:${var.image_tag}"

  # The node's configuration (README "Configuration"; bins/src/config.rs and the sections it
  # names). Not set here, on purpose:
  # - cluster.node_id and cluster.advertise: with both unset a node on ECS advertises its
  #   task's private IP, read from the task metadata endpoint at start (bins/src/ecs.rs), and
  #   takes it as its id, so every task is a distinct member;
  # - secrets (database and Redis URLs, token secret, dashboard token): `secrets` below.
  node_env = merge(
    {
      SWITCHBOARD_LISTEN                      = "0.0.0.0:${local.node_port}"
      SWITCHBOARD_LOG                         = "info"
      SWITCHBOARD_LOG_FORMAT                  = "json"
      SWITCHBOARD_HTTP__MAX_CONNECTIONS       = tostring(var.max_connections_per_task)
      SWITCHBOARD_DATABASE__POOL_SIZE         = tostring(var.db_pool_size)
      SWITCHBOARD_DATABASE__MIGRATE_ON_START  = tostring(var.migrate_on_start)
      SWITCHBOARD_CLUSTER__KEY_PREFIX         = var.name
      SWITCHBOARD_ENGINE__SHUTDOWN_GRACE_SECS = tostring(var.shutdown_grace_secs)
      SWITCHBOARD_ENGINE__CLOSE_TIMEOUT_MS    = tostring(var.close_timeout_ms)
      SWITCHBOARD_AUTH__PROVIDER              = "cognito"
      SWITCHBOARD_COGNITO__REGION             = local.region
      SWITCHBOARD_COGNITO__USER_POOL_ID       = aws_cognito_user_pool.main.id
      SWITCHBOARD_COGNITO__CLIENT_ID          = aws_cognito_user_pool_client.web.id
      SWITCHBOARD_COGNITO__REVOKE_WITHIN_SECS = tostring(var.revoke_within_secs)
      SWITCHBOARD_MEDIA__BACKEND              = "s3"
      SWITCHBOARD_MEDIA__S3__BUCKET           = aws_s3_bucket.media.id
      SWITCHBOARD_MEDIA__S3__REGION           = local.region
      SWITCHBOARD_MEDIA__S3__PATH_STYLE       = "false"
    },
    var.premium_group == null ? {} : { SWITCHBOARD_COGNITO__PREMIUM_GROUP = var.premium_group },
    var.node_env,
  )

  node_secrets = {
    SWITCHBOARD_DATABASE__URL          = "${aws_secretsmanager_secret.database.arn}:url::"
    SWITCHBOARD_CLUSTER__REDIS_URL     = "${aws_secretsmanager_secret.redis.arn}:url::"
    SWITCHBOARD_AUTH__TOKEN_SECRET     = "${aws_secretsmanager_secret.node.arn}:token_secret::"
    SWITCHBOARD_DASHBOARD__ADMIN_TOKEN = "${aws_secretsmanager_secret.node.arn}:dashboard_admin_token::"
  }

  # AWS Distro for OpenTelemetry: scrapes the node's /metrics on loopback every 15 s and writes
  # the chosen metrics as embedded-metric-format records, which CloudWatch turns into metrics
  # in the `Switchboard` namespace by ClusterName and ServiceName (counters as per-interval
  # deltas).
  collector_config = yamlencode({
    receivers = {
      prometheus = {
        config = {
          global = { scrape_interval = "15s", scrape_timeout = "5s" }
          scrape_configs = [{
            job_name     = "switchboard"
            metrics_path = "/metrics"
            static_configs = [{
              targets = ["127.0.0.1:${local.node_port}"]
              labels  = { ClusterName = var.name, ServiceName = var.name }
            }]
            metric_relabel_configs = [{
              source_labels = ["__name__"]
              regex         = join("|", var.exported_metrics)
              action        = "keep"
            }]
          }]
        }
      }
    }
    processors = {
      # The task's ids ({TaskId} in the stream name) from the ECS metadata endpoint.
      resourcedetection = { detectors = ["env", "ecs"] }
    }
    exporters = {
      awsemf = {
        namespace               = "Switchboard"
        log_group_name          = aws_cloudwatch_log_group.metrics.name
        log_stream_name         = "{TaskId}"
        region                  = local.region
        dimension_rollup_option = "NoDimensionRollup"
        metric_declarations = [{
          dimensions = [["ClusterName", "ServiceName"]]
          # Regular expressions, unanchored: no exported name contains another.
          metric_name_selectors = var.exported_metrics
        }]
      }
    }
    service = {
      pipelines = {
        metrics = { receivers = ["prometheus"], processors = ["resourcedetection"], exporters = ["awsemf"] }
      }
    }
  })

  log_options = {
    "awslogs-group"        = aws_cloudwatch_log_group.node.name
    "awslogs-region"       = local.region
    "awslogs-create-group" = "false"
    "mode"                 = "non-blocking" # a slow log stream must not stall the node
    "max-buffer-size"      = "8m"
  }

  container_definitions = [
    {
      name      = "node"
      image     = local.image
      essential = true
      # The image's user (non-root, 65532) and data directory (SWITCHBOARD_DATA_DIR, where
      # `serve` keeps its lock file; nothing else with Postgres, S3 and a token secret) stay.
      # The root file system stays writable for that file: a Fargate task volume mounted there
      # would be owned by root unless the image declared the directory a VOLUME.
      readonlyRootFilesystem = false
      portMappings = [{
        containerPort = local.node_port
        protocol      = "tcp"
        name          = "http"
      }]
      environment = [for k in sort(keys(local.node_env)) : { name = k, value = local.node_env[k] }]
      secrets     = [for k in sort(keys(local.node_secrets)) : { name = k, valueFrom = local.node_secrets[k] }]
      # Every socket is a file. Set here, not left to the platform's default (65,535 on Fargate
      # today, 1,024 soft on older platform versions), so that it is validated against
      # http.max_connections (variables.tf).
      ulimits = [{
        name      = "nofile"
        softLimit = var.nofile_limit
        hardLimit = var.nofile_limit
      }]
      # Liveness only: /healthz answers while the process is up. Readiness (/readyz) is the
      # load balancer's check, so a draining node is taken out of rotation, not restarted.
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/switchboard", "healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      stopTimeout = var.stop_timeout_secs
      logConfiguration = {
        logDriver = "awslogs"
        options   = merge(local.log_options, { "awslogs-stream-prefix" = "node" })
      }
    },
    {
      name                   = "metrics"
      image                  = var.collector_image
      essential              = false # losing it stops connection-based scaling, not the node
      readonlyRootFilesystem = true
      cpu                    = var.collector_cpu
      memoryReservation      = var.collector_memory
      # The collector reads its configuration from this variable.
      environment = [{ name = "AOT_CONFIG_CONTENT", value = local.collector_config }]
      dependsOn   = [{ containerName = "node", condition = "START" }]
      logConfiguration = {
        logDriver = "awslogs"
        options   = merge(local.log_options, { "awslogs-stream-prefix" = "metrics" })
      }
    },
  ]
}

resource "aws_ecs_task_definition" "node" {
  #checkov:skip=CKV_AWS_336:The node writes its lock file into the image's data directory (see the node container above); the collector's root file system is read-only. Nothing durable lives in a task.
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode(local.container_definitions)

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = local.tags
}

resource "aws_ecs_service" "node" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.node.arn
  desired_count                     = var.min_tasks
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  health_check_grace_period_seconds = 60 # a first start migrates and fetches the pool's keys

  # Rolling deploys: new tasks start and turn healthy before any old one is stopped (100%
  # healthy, up to 200% running); a deploy whose tasks never turn healthy rolls back.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.node.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.node.arn
    container_name   = "node"
    container_port   = local.node_port
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags       = local.tags
  depends_on = [aws_lb_listener.https, aws_iam_role_policy.execution]
}
