# The Application Load Balancer: TLS ends here; WebSockets pass through to the nodes over HTTP
# inside the VPC. Idle timeout long enough for a quiet WebSocket; target health on /readyz (503
# while a node drains or once a task whose death fails the node has died).

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is the operator's choice (aws_wafv2_web_acl_association on output alb_arn); the node rate-limits sign-ins and commands itself (ARCHITECTURE §13).
  name                       = "${var.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  idle_timeout               = var.alb_idle_timeout_secs
  enable_deletion_protection = var.alb_deletion_protection
  drop_invalid_header_fields = true
  # Clients get HTTP/1.1 for the WebSocket upgrade either way; HTTP/2 serves the page and API.
  enable_http2 = true

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "node" {
  # TLS ends at the load balancer; from there to the task is HTTP inside private subnets,
  # where only the ALB's security group reaches the node (the node serves no TLS).
  name        = "${var.name}-node"
  port        = local.node_port
  protocol    = "HTTP"
  target_type = "ip" # awsvpc: each task has its own address
  vpc_id      = aws_vpc.main.id

  # Longer than the node's drain (validated in variables.tf): a node stopped as it is
  # deregistered tells its clients 1012 and lets them go before the ALB cuts what is left.
  deregistration_delay = var.deregistration_delay_secs

  # Round robin: existing WebSockets never move, so a task added by scale-out fills from
  # new connections and reconnects only (docs/DEPLOY.md, Sizing).
  load_balancing_algorithm_type = "round_robin"

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.node.arn
  }

  tags = local.tags
}

# /metrics is not for the internet: the collector sidecar scrapes it inside the task.
# (/api/dashboard needs dashboard.admin_token, which the task gets from Secrets Manager.)
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  tags = local.tags
}

resource "aws_lb_listener" "http_redirect" {
  # Only a redirect to HTTPS: nothing is served over plain HTTP.
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}
