terraform {
  # 1.10 for the S3 backend's own lock file (no DynamoDB table needed).
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70.0, < 7.0.0"
    }
  }

  # Partial configuration: the bucket, key and region come from backend.hcl
  # (terraform init -backend-config=backend.hcl; docs/DEPLOY.md, step 1).
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
