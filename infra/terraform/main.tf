# N Debian 12 hosts for plat on AWS: a small VPC of their own, one security group (SSH from
# allowed_ssh_cidrs, the plat gateway from allowed_gateway_cidrs, nothing else) and cloud-init
# that creates the deploy user with one SSH key. Docker and the agent come afterwards, from
# `plat hosts bootstrap --install-docker` or infra/ansible.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  tags  = merge(var.labels, { "plat:cluster" = var.name_prefix, "managed-by" = "terraform" })
  names = [for i in range(var.instance_count) : "${var.name_prefix}-${i + 1}"]

  # Only the deploy user (no distro default user), key login only, root login off.
  user_data = "#cloud-config\n${yamlencode({
    users = [{
      name                = var.deploy_user
      shell               = "/bin/bash"
      groups              = ["sudo"]
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      lock_passwd         = true
      ssh_authorized_keys = [trimspace(var.ssh_public_key)]
    }]
    disable_root = true
    ssh_pwauth   = false
    # Fresh host keys, whose fingerprints cloud-init prints to the serial console: compare them
    # with what `plat hosts trust` shows (README.md).
    ssh_deletekeys  = true
    ssh_genkeytypes = ["ed25519", "ecdsa", "rsa"]
  })}"

  addresses = var.stable_addresses ? aws_eip.host[*].public_ip : aws_instance.host[*].public_ip
  hosts = [for i, inst in aws_instance.host : {
    name            = local.names[i]
    address         = local.addresses[i]
    private_address = inst.private_ip
    instance_id     = inst.id
  }]
}

# The newest official Debian 12 image (Debian's AWS account, see wiki.debian.org/Cloud/AmazonEC2Image).
data "aws_ami" "debian12" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"]

  filter {
    name   = "name"
    values = ["debian-12-${var.architecture}-*"]
  }

  filter {
    name   = "architecture"
    values = [var.architecture == "amd64" ? "x86_64" : "arm64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name_prefix }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = var.name_prefix }
}

resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, 0)
  availability_zone       = var.availability_zone
  map_public_ip_on_launch = true
  tags                    = { Name = "${var.name_prefix}-public" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = { Name = "${var.name_prefix}-public" }
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

# The firewall: exactly two ports open, each to its own list of sources.
resource "aws_security_group" "hosts" {
  name_prefix = "${var.name_prefix}-hosts-"
  description = "plat hosts: SSH and the plat gateway"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "SSH"
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = var.allowed_ssh_cidrs
  }

  ingress {
    description = "plat gateway"
    protocol    = "tcp"
    from_port   = var.gateway_port
    to_port     = var.gateway_port
    cidr_blocks = var.allowed_gateway_cidrs
  }

  egress {
    description = "outbound: packages, image registries, apps calling out"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${var.name_prefix}-hosts" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_instance" "host" {
  count = var.instance_count

  ami                         = var.ami_id != null ? var.ami_id : data.aws_ami.debian12[0].id
  instance_type               = var.instance_type
  subnet_id                   = aws_subnet.public.id
  vpc_security_group_ids      = [aws_security_group.hosts.id]
  user_data                   = local.user_data
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size
    encrypted   = true
  }

  tags = { Name = local.names[count.index] }

  lifecycle {
    # A newer Debian AMI must not replace running hosts; set ami_id to move on deliberately.
    ignore_changes = [ami]
  }

  depends_on = [aws_route_table_association.public]
}

resource "aws_eip" "host" {
  count    = var.stable_addresses ? var.instance_count : 0
  domain   = "vpc"
  instance = aws_instance.host[count.index].id
  tags     = { Name = local.names[count.index] }

  depends_on = [aws_internet_gateway.this]
}
