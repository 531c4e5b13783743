#!/bin/sh
# Registers the compose services with SPIRE. Run once after `docker compose up -d spire-server`:
#   docker compose exec spire-server /opt/spire/conf/register.sh
set -eu
S=/opt/spire/bin/spire-server
$S entry create -parentID spiffe://example.org/agent -spiffeID spiffe://example.org/spiffe-authz -selector docker:label:com.docker.compose.service:spiffe-authz
$S entry create -parentID spiffe://example.org/agent -spiffeID spiffe://example.org/envoy -selector docker:label:com.docker.compose.service:envoy
$S entry create -parentID spiffe://example.org/agent -spiffeID spiffe://example.org/frontend -selector docker:label:com.docker.compose.service:frontend
$S entry create -parentID spiffe://example.org/agent -spiffeID spiffe://example.org/intruder -selector docker:label:com.docker.compose.service:intruder
