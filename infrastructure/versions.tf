terraform {
  # 1.5.7 is the oldest CLI this is checked with (it is what CI builds).
  required_version = ">= 1.5.7"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.0, < 9.0"
    }
  }
}
