variable "region" {
  description = "AWS region the deployment lives in, e.g. eu-west-1."
  type        = string
}

variable "name" {
  description = "Name of the deployment (the module's `name`): prefixes every resource."
  type        = string
  default     = "chat"
}

variable "domain_name" {
  description = "The name clients connect to, e.g. chat.example.com: the certificate's name and the alias record pointing at the load balancer."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 public hosted zone holding domain_name: the certificate is validated and the alias record created there."
  type        = string
}

variable "image_tag" {
  description = "Tag of the node's image pushed to the deployment's ECR repository (docs/DEPLOY.md, step 3)."
  type        = string
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted-UI domain, unique in the region."
  type        = string
}

variable "callback_paths" {
  description = "Paths on domain_name where the hosted UI may return users with an authorization code (the web client's callback)."
  type        = list(string)
  default     = ["/"]
}

variable "extra_web_origins" {
  description = "Origins besides https://<domain_name> that may upload and fetch media and receive hosted-UI callbacks (e.g. http://localhost:5173 while developing the web app)."
  type        = list(string)
  default     = []
}

variable "min_tasks" {
  description = "Fewest node tasks (at least 2)."
  type        = number
  default     = 2
}

variable "max_tasks" {
  description = "Most node tasks autoscaling may run."
  type        = number
  default     = 12
}

variable "alarm_email" {
  description = "An address the alarms are mailed to (through an SNS topic); null for none."
  type        = string
  default     = null
}

variable "node_env" {
  description = "Further SWITCHBOARD_* settings for the nodes (README, Configuration)."
  type        = map(string)
  default     = {}
}
