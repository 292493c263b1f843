# `terraform test` with a mocked AWS provider: no credentials, no network, nothing created.
# It checks what the module would build and what its outputs look like.
mock_provider "aws" {
  mock_data "aws_ami" {
    defaults = { id = "ami-0123456789abcdef0" }
  }
  mock_resource "aws_instance" {
    defaults = { public_ip = "198.51.100.10", private_ip = "10.42.0.10" }
  }
  mock_resource "aws_eip" {
    defaults = { public_ip = "203.0.113.10" }
  }
}

variables {
  instance_count    = 2
  ssh_public_key    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ci@plat"
  allowed_ssh_cidrs = ["192.0.2.0/24"]
  labels            = { env = "test" }
}

run "two_hosts_with_stable_addresses" {
  command = apply

  assert {
    condition     = length(aws_instance.host) == 2 && length(aws_eip.host) == 2
    error_message = "expected two instances, each with an Elastic IP"
  }
  assert {
    condition     = [for h in output.hosts : h.name] == ["plat-1", "plat-2"]
    error_message = "hosts are named <name_prefix>-<n>"
  }
  assert {
    condition     = output.ansible_inventory == "[plat_hosts]\nplat-1 ansible_host=203.0.113.10\nplat-2 ansible_host=203.0.113.10\n\n[plat_hosts:vars]\nansible_user=deploy\nplat_agent_gateway_port=80\n"
    error_message = "the inventory lists every host in plat_hosts, with ansible_user and the gateway port for infra/ansible"
  }
  assert {
    condition     = output.plat_yaml_hosts[0].host == "deploy@203.0.113.10" && output.plat_yaml_hosts[0].labels.env == "test"
    error_message = "plat.yaml hosts are deploy_user@address with the labels"
  }
  assert {
    condition     = join(",", sort([for r in aws_security_group.hosts.ingress : "${r.from_port}-${r.to_port}"])) == "22-22,80-80"
    error_message = "the firewall opens exactly SSH and the gateway port"
  }
  assert {
    condition     = startswith(aws_instance.host[0].user_data, "#cloud-config\n") && strcontains(aws_instance.host[0].user_data, "ssh-ed25519 AAAAC3")
    error_message = "cloud-init carries the deploy user's key"
  }
  assert {
    condition     = yamldecode(aws_instance.host[0].user_data).ssh_pwauth == false && yamldecode(aws_instance.host[0].user_data).users[0].lock_passwd == true
    error_message = "no password login"
  }
  assert {
    condition     = aws_instance.host[0].metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 only"
  }
}

run "ephemeral_addresses_and_custom_gateway_port" {
  command = apply

  variables {
    stable_addresses = false
    gateway_port     = 8080
    deploy_user      = "ops"
  }

  assert {
    condition     = length(aws_eip.host) == 0 && output.hosts[0].address == "198.51.100.10"
    error_message = "without stable_addresses the instance's own public IP is used"
  }
  assert {
    condition     = join(",", sort([for r in aws_security_group.hosts.ingress : "${r.from_port}-${r.to_port}"])) == "22-22,8080-8080"
    error_message = "the gateway rule follows gateway_port"
  }
  assert {
    condition     = strcontains(output.ansible_inventory, "ansible_user=ops\nplat_agent_gateway_port=8080\n")
    error_message = "the inventory follows deploy_user and gateway_port"
  }
  assert {
    condition     = output.trust_commands[1] == "plat hosts trust ops@198.51.100.10"
    error_message = "trust commands name deploy_user@address"
  }
}

run "rejects_bad_input" {
  command = plan

  variables {
    allowed_ssh_cidrs = ["everyone"]
    gateway_port      = 22
    ssh_public_key    = "hunter2"
  }

  expect_failures = [var.allowed_ssh_cidrs, var.gateway_port, var.ssh_public_key]
}
