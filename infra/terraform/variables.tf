variable "region" {
  description = "AWS region the hosts run in, e.g. eu-central-1."
  type        = string
  default     = "eu-central-1"
}

variable "availability_zone" {
  description = "Availability zone of the hosts' subnet (null: AWS picks one in the region)."
  type        = string
  default     = null
}

variable "instance_count" {
  description = "How many hosts to create."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count >= 1 && floor(var.instance_count) == var.instance_count
    error_message = "instance_count must be a whole number, at least 1."
  }
}

variable "instance_type" {
  description = "EC2 instance type of every host (must match `architecture`: t3.* is amd64, t4g.* arm64)."
  type        = string
  default     = "t3.small"
}

variable "architecture" {
  description = "CPU architecture of the Debian 12 image: amd64 or arm64."
  type        = string
  default     = "amd64"

  validation {
    condition     = contains(["amd64", "arm64"], var.architecture)
    error_message = "architecture must be amd64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI to boot (null: the newest official Debian 12 image for `architecture`). Hosts keep their AMI when a newer one is published."
  type        = string
  default     = null
}

variable "root_volume_size" {
  description = "Size of each host's root disk in GiB (images and app containers live there)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8
    error_message = "root_volume_size must be at least 8 (GiB)."
  }
}

variable "ssh_public_key" {
  description = "The one SSH public key (OpenSSH format, one line) allowed to log in as `deploy_user`. No password login exists."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) [A-Za-z0-9+/=]+( [^\\n]*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line, e.g. the contents of ~/.ssh/id_ed25519.pub (never a private key)."
  }
}

variable "deploy_user" {
  description = "The login user cloud-init creates on every host (key only, passwordless sudo for bootstrapping Docker and the agent)."
  type        = string
  default     = "deploy"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,30}$", var.deploy_user)) && !contains(["root", "admin"], var.deploy_user)
    error_message = "deploy_user must be a lowercase Linux user name other than root and admin."
  }
}

variable "allowed_ssh_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach SSH (port 22), e.g. [\"203.0.113.7/32\"]. No default: say who may connect."
  type        = list(string)

  validation {
    condition     = length(var.allowed_ssh_cidrs) > 0 && alltrue([for c in var.allowed_ssh_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "allowed_ssh_cidrs must be a non-empty list of IPv4 CIDR blocks such as 203.0.113.7/32."
  }
}

variable "allowed_gateway_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the plat gateway (`gateway_port`): the whole internet by default."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.allowed_gateway_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "allowed_gateway_cidrs must be IPv4 CIDR blocks such as 0.0.0.0/0."
  }
}

variable "gateway_port" {
  description = "TCP port of the plat gateway on every host (plat.yaml `agent: {gateway_port}`)."
  type        = number
  default     = 80

  validation {
    condition     = var.gateway_port >= 1 && var.gateway_port <= 65535 && var.gateway_port != 22 && floor(var.gateway_port) == var.gateway_port
    error_message = "gateway_port must be a TCP port (1-65535) other than 22."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name; hosts are <name_prefix>-1 ... <name_prefix>-N."
  type        = string
  default     = "plat"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix must be a DNS label: lowercase letters, digits and '-', starting with a letter, at most 31 characters."
  }
}

variable "labels" {
  description = "Labels for every host: AWS tags on every resource, and the hosts' plat labels in the plat_yaml_hosts output (`plat deploy --label key=value`)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC created for the hosts (they get a /24 of it)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrsubnet(var.vpc_cidr, 8, 0)) && !strcontains(var.vpc_cidr, ":")
    error_message = "vpc_cidr must be an IPv4 CIDR block of at most /16 (the hosts get a /24 of it), e.g. 10.42.0.0/16."
  }
}

variable "stable_addresses" {
  description = "Give every host an Elastic IP, so its address (and so its known_hosts entry) survives a stop/start."
  type        = bool
  default     = true
}
