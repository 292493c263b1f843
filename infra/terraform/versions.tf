terraform {
  # 1.7 for `mock_provider` in tests/*.tftest.hcl (the module itself needs only 1.3+).
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
