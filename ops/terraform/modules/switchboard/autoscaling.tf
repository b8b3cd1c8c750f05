# Two target-tracking policies on the service's task count; the larger of their answers wins,
# so the service scales out when either connections or CPU run high, and in only when both
# allow it.
#
# Connections per task come from the node's own gauge, switchboard_connections, published by
# the collector sidecar (ecs.tf), averaged over the tasks. Why not the load balancer's
# ActiveConnectionCount: it has no per-target-group or per-target dimension (only the whole
# load balancer, per zone), it counts client-side and target-side TCP connections together,
# short HTTP requests (page, API, presigned redirects) included, and dividing it by the task
# count needs a second metric (Container Insights' RunningTaskCount) that lags the first. The
# node's gauge counts exactly the open WebSockets each task holds, which is what bounds its
# memory (docs/DEPLOY.md, Sizing). If the sidecar stops, that metric goes missing and target
# tracking takes no action on it; the CPU policy still scales.

resource "aws_appautoscaling_target" "service" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.node.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
  tags               = local.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  resource_id        = aws_appautoscaling_target.service.resource_id
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.cpu_target_percent
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
    scale_out_cooldown = 60
    # Scaling in closes a task's WebSockets (its clients reconnect and resume elsewhere): do it
    # slowly.
    scale_in_cooldown = 600
  }
}

resource "aws_appautoscaling_policy" "connections" {
  name               = "${var.name}-connections"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  resource_id        = aws_appautoscaling_target.service.resource_id
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.connections_per_task_target
    customized_metric_specification {
      namespace   = "Switchboard"
      metric_name = "switchboard_connections"
      statistic   = "Average"
      dimensions {
        name  = "ClusterName"
        value = var.name
      }
      dimensions {
        name  = "ServiceName"
        value = var.name
      }
    }
    scale_out_cooldown = 60
    scale_in_cooldown  = 600
  }
}
