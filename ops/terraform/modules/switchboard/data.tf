# Redis (membership, forwarding, rate counters, dashboard snapshots: nothing durable) and
# Postgres (every durable thing: users, rooms, messages, read marks, uploads, revocations).

# --- ElastiCache Redis --------------------------------------------------------------------

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = aws_subnet.private[*].id
  tags       = local.tags
}

resource "aws_elasticache_parameter_group" "redis" {
  name   = "${var.name}-redis7"
  family = "redis7"

  # Pub/sub is the cluster's bus: a node that reads its inbox slowly must not be cut off by
  # the default output-buffer limit for pub/sub clients (32 MB hard, 8 MB for 60 s). A node
  # that falls behind sees a gap and resets its rooms instead (ARCHITECTURE §11).
  parameter {
    name  = "client-output-buffer-limit-pubsub-hard-limit"
    value = "268435456"
  }

  parameter {
    name  = "client-output-buffer-limit-pubsub-soft-limit"
    value = "67108864"
  }

  tags = local.tags
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV_AWS_30:In-transit encryption follows var.redis_tls, off by default because today's node speaks plain TCP to Redis (redis crate without TLS features); traffic stays in private subnets and only the nodes' security group reaches port 6379 (docs/DEPLOY.md, Security gaps).
  #checkov:skip=CKV_AWS_31:An AUTH token needs in-transit encryption (see CKV_AWS_30); it is set when var.redis_tls is on.
  replication_group_id       = "${var.name}-redis"
  description                = "Switchboard ${var.name}: cluster membership and forwarding"
  engine                     = "redis"
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  port                       = 6379
  parameter_group_name       = aws_elasticache_parameter_group.redis.name
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.redis.id]
  num_cache_clusters         = 2 # a primary and a replica in another zone
  automatic_failover_enabled = true
  multi_az_enabled           = true
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = var.redis_tls
  auth_token                 = var.redis_tls ? random_password.redis[0].result : null
  auto_minor_version_upgrade = true
  apply_immediately          = false
  maintenance_window         = "sun:03:00-sun:04:00"
  tags                       = local.tags
}

# --- RDS Postgres -----------------------------------------------------------------------------

resource "aws_db_subnet_group" "postgres" {
  name       = "${var.name}-postgres"
  subnet_ids = aws_subnet.private[*].id
  tags       = local.tags
}

resource "aws_db_parameter_group" "postgres" {
  name   = "${var.name}-postgres${var.db_engine_version}"
  family = "postgres${var.db_engine_version}"

  # Off by default only because today's node connects without TLS (tokio-postgres with
  # NoTls, persistence/src/store/pg_pool.rs); RDS for Postgres 15+ would refuse it otherwise.
  parameter {
    name  = "rds.force_ssl"
    value = var.db_tls ? "1" : "0"
  }

  # Statements slower than 500 ms and every schema change go to the log (exported below).
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "postgres" {
  #checkov:skip=CKV2_AWS_69:In-transit encryption follows var.db_tls, off by default because today's node connects to Postgres without TLS; traffic stays in private subnets and only the nodes' security group reaches port 5432 (docs/DEPLOY.md, Security gaps).
  identifier     = "${var.name}-postgres"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "switchboard"
  username       = "switchboard"
  password       = random_password.database.result
  port           = 5432

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.postgres.name
  vpc_security_group_ids = [aws_security_group.postgres.id]
  parameter_group_name   = aws_db_parameter_group.postgres.name
  publicly_accessible    = false

  storage_type          = "gp3"
  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-02:30"
  maintenance_window        = "sun:02:30-sun:03:00"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-postgres-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  # The node signs in with the password; IAM authentication is on for operators' psql.
  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false

  tags = local.tags
}
