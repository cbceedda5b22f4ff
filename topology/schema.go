package topology

import "encoding/json"

// Schema returns a JSON Schema (draft 2020-12) of the topology spec, for
// editors. Its keys are kept equal to the decoder's by a test; its patterns
// are the validator's own regular expressions.
func Schema() []byte {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	pattern := func(desc, re string) map[string]any {
		return map[string]any{"type": "string", "description": desc, "pattern": re, "maxLength": maxIdentifier}
	}
	port := func(desc string) map[string]any {
		return map[string]any{"type": "integer", "minimum": 1, "maximum": 65535, "description": desc}
	}
	envVar := func(desc string) map[string]any { return pattern(desc, envRE.String()) }
	major := func(desc string) map[string]any {
		return map[string]any{"type": "integer", "minimum": minMajor, "maximum": maxMajor, "description": desc}
	}
	image := func(desc string) map[string]any {
		return map[string]any{"type": "string", "pattern": imageRE.String(), "description": desc}
	}
	node := func(desc string, required ...string) map[string]any {
		return map[string]any{
			"type": "object", "description": desc, "additionalProperties": false,
			"required": required,
			"properties": map[string]any{
				"service":       pattern("Compose service name, also the in-network host name.", serviceRE.String()),
				"alias":         pattern("Django DATABASES alias ('default' is not allowed); a worker without one gets no DATABASES entry.", aliasRE.String()),
				"port":          port("Published (host) port; without it the node is reachable inside the compose network only."),
				"image":         image("Image for this node; default: the top-level image. none: a server outside compose (packages, a virtual machine)."),
				"postgres":      major("PostgreSQL major of this node's image, where its tag does not say it (images other than citusdata/citus)."),
				"port_variable": envVar("Compose variable that overrides the published port; default CITUS_<SERVICE>_EXTERNAL_PORT."),
				"node_name":     str("host:port other nodes use to reach this one; default service:container_port."),
			},
		}
	}
	s := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://citusgen.invalid/topology.schema.json",
		"title":                "citusgen topology",
		"description":          "One Citus cluster beside a Django app: the source of the compose services, the Django settings and the bootstrap SQL.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"coordinator", "workers"},
		"properties": map[string]any{
			"image":                map[string]any{"type": "string", "pattern": imageRE.String(), "default": DefaultImage, "description": "Image for every node. none: the nodes are servers outside compose (packages, virtual machines): no compose services, no image check."},
			"postgres":             major("PostgreSQL major of the image, which decides where it keeps its data (18 and later: /var/lib/postgresql; earlier: /var/lib/postgresql/data). The citusdata/citus tags say it (14.1 is 18, 14.1-pg17 is 17, 13.2 is 17); any other image needs it to render compose."),
			"database":             map[string]any{"type": "string", "pattern": pgNameRE.String(), "maxLength": maxIdentifier, "default": DefaultDatabase, "description": "Database created on every node (the ci profile uses test_<database>)."},
			"database_variable":    map[string]any{"type": "string", "pattern": "^$|" + envRE.String(), "description": "Compose variable that overrides the database name; default CITUS_DB (dev) or UCR_CITUS_DB (ci); empty: POSTGRES_DB is the database itself."},
			"user":                 map[string]any{"type": "string", "pattern": pgNameRE.String(), "maxLength": maxIdentifier, "default": DefaultUser, "description": "PostgreSQL superuser of the cluster."},
			"password":             map[string]any{"type": "string", "minLength": 1, "description": "Password of the user; exclusive with password_env."},
			"password_env":         envVar("Environment variable holding the password; exclusive with password."),
			"trust_authentication": map[string]any{"type": "boolean", "default": false, "description": "Run the nodes without passwords (POSTGRES_HOST_AUTH_METHOD=trust); needed when neither password nor password_env is given."},
			"profile":              map[string]any{"enum": []string{string(ProfileDev), string(ProfileCI)}, "default": string(ProfileDev), "description": "dev: ROLE keys, Django sets the cluster up in tests. ci: no ROLE, tests reuse the test_ database."},
			"django": map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{
					"reaches":                     map[string]any{"enum": []string{string(ReachHost), string(ReachNetwork)}, "default": string(ReachHost), "description": "host: published ports on django.host; network: service names and the container port."},
					"host":                        map[string]any{"type": "string", "pattern": hostnameRE.String(), "default": DefaultHost, "description": "HOST Django uses when it reaches the nodes from the host."},
					"engine":                      map[string]any{"type": "string", "pattern": engineRE.String(), "default": DefaultEngine},
					"disable_server_side_cursors": map[string]any{"type": "boolean", "default": true},
					"roles":                       map[string]any{"type": "boolean", "description": "Write the ROLE keys (citus_master / citus_worker) Django's test setup uses; default: true, false in the ci profile."},
					"reporting_databases": map[string]any{
						"type": "object", "description": "REPORTING_DATABASES entries: name -> an alias of this topology.",
						"propertyNames":        map[string]any{"pattern": aliasRE.String()},
						"additionalProperties": map[string]any{"type": "string"},
					},
					"settings": map[string]any{
						"type": "object", "description": "Extra top-level Django settings.",
						"propertyNames":        map[string]any{"pattern": settingRE.String(), "not": map[string]any{"enum": []string{"DATABASES", "REPORTING_DATABASES"}}},
						"additionalProperties": map[string]any{"type": []string{"boolean", "integer", "string"}},
					},
				},
			},
			"coordinator": node("The coordinator node.", "service", "alias"),
			"workers": map[string]any{
				"description": "Workers: an explicit list, or the count form.",
				"oneOf": []any{
					map[string]any{"type": "array", "minItems": 1, "items": node("A worker node.", "service")},
					map[string]any{
						"type": "object", "additionalProperties": false,
						"required": []string{"count", "service_prefix", "alias_prefix", "first_port"},
						"properties": map[string]any{
							"count":          map[string]any{"type": "integer", "minimum": 1, "maximum": MaxWorkers},
							"service_prefix": str("Workers are named <service_prefix>1..<count>."),
							"alias_prefix":   str("Aliases are <alias_prefix>1..<count>."),
							"first_port":     port("Published port of the first worker; the others follow."),
							"image":          image("Image for these workers; default: the top-level image."),
							"postgres":       major("PostgreSQL major of these workers' image, where its tag does not say it."),
						},
					},
				},
			},
			"compose": map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{
					"container_port":             map[string]any{"type": "integer", "minimum": 1, "maximum": 65535, "default": DefaultContainerPort},
					"publish_address":            map[string]any{"type": "string", "default": DefaultPublishAddress, "description": "Host address the nodes' ports are published on: loopback by default; 0.0.0.0 for every interface (not with trust_authentication)."},
					"healthcheck_start_interval": map[string]any{"type": "string", "description": "Healthcheck start_interval of the nodes, such as 1s: they turn healthy sooner after a start. Needs Docker Engine 25 or later (Compose v2.40 refuses it on older engines); left out by default."},
					"setup":                      map[string]any{"type": "boolean", "default": true, "description": "Emit the one-shot citus_setup service that runs the bootstrap once every node is healthy (default: true unless membership_manager)."},
					"membership_manager":         map[string]any{"type": "boolean", "default": false, "description": "Emit the citus_manager service (the old registration flow); needs setup: false."},
					"manager_image":              map[string]any{"type": "string", "pattern": imageRE.String(), "default": DefaultManagerImage},
					"volume_prefix_variable":     map[string]any{"type": "string", "pattern": envRE.String(), "default": DefaultVolumePrefix},
					"volume_blank_variable":      map[string]any{"type": "string", "pattern": envRE.String(), "description": "Render data volumes as ${VOLUME_PREFIX}${VAR-<service>:}/var/lib/postgresql/data (CommCare HQ's BLANK_IF_TESTS): setting VAR, even empty, drops the named volume."},
					"worker_password":            map[string]any{"type": "boolean", "default": true, "description": "Give workers POSTGRES_PASSWORD and PGPASSWORD; false leaves them out, as CommCare HQ's 2019-2020 files did (old images then trusted every connection; current images refuse to start)."},
				},
			},
		},
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // static data
	}
	return append(out, '\n')
}
