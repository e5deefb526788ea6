# tflint's bundled Terraform rules, all of them: naming, documented and typed
# variables and outputs, pinned providers, nothing unused or deprecated.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
