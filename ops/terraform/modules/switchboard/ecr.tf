# The node's image repository. Tags are immutable, so a task definition names one build for
# good (roll back by deploying the previous tag); images are scanned when pushed.

resource "aws_ecr_repository" "node" {
  name                 = "switchboard/${var.name}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }

  tags = local.tags
}

# Keep the last 50 images; deploys name a tag, older tags are only for rollbacks.
resource "aws_ecr_lifecycle_policy" "node" {
  repository = aws_ecr_repository.node.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 50 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}
