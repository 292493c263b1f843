output "hosts" {
  description = "Every host: name, public address (the Elastic IP with stable_addresses), private address and instance id."
  value       = local.hosts
}

output "ansible_inventory" {
  description = "An INI inventory for infra/ansible: the hosts in group plat_hosts, ansible_user = deploy_user, the agent's gateway on gateway_port (terraform output -raw ansible_inventory > inventory.ini)."
  value = join("", concat(
    ["[plat_hosts]\n"],
    [for h in local.hosts : "${h.name} ansible_host=${h.address}\n"],
    ["\n[plat_hosts:vars]\n", "ansible_user=${var.deploy_user}\n", "plat_agent_gateway_port=${var.gateway_port}\n"],
  ))
}

output "plat_yaml_hosts" {
  description = "Entries for `hosts:` in plat.yaml ([{host: deploy_user@address, labels}]); terraform output -json plat_yaml_hosts."
  value       = [for h in local.hosts : { host = "${var.deploy_user}@${h.address}", labels = var.labels }]
}

output "trust_commands" {
  description = "Run each once before the first deploy: it shows the host's SSH key fingerprint and adds it to known_hosts after you confirm."
  value       = [for h in local.hosts : "plat hosts trust ${var.deploy_user}@${h.address}"]
}
