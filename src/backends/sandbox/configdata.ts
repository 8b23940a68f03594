/**
 * ConfigMap and Secret contents for the modelled apps. The hotel-reservation MongoDB
 * script ConfigMaps mirror what AIOpsLab mounts (init script creating the `admin`/`root`
 * users with readWrite on the app database; the revoke/restore scripts under /scripts),
 * written for the sandbox, so an agent can discover the credentials and the fix.
 */
import type { AppSpec } from './apps.ts';

function initScript(db: string): string {
  return `#!/bin/bash
ADMIN_USER="admin"
ADMIN_PWD="admin"
ROOT_USER="root"
ROOT_PWD="root"
TARGET_DB="${db}"
READ_WRITE_ROLE="readWrite"

echo "Waiting for MongoDB to start..."
until mongo --eval "print('waited for connection')" > /dev/null 2>&1; do
  sleep 1
done

mongo admin --eval "db.createUser({user: '$ADMIN_USER', pwd: '$ADMIN_PWD', roles: [{role: 'userAdminAnyDatabase', db: 'admin'}]});"
mongo admin -u $ADMIN_USER -p $ADMIN_PWD --authenticationDatabase admin \\
     --eval "db.grantRolesToUser('$ADMIN_USER', [{role: '$READ_WRITE_ROLE', db: '$TARGET_DB'}]);"
mongo admin --eval "db.createUser({user: '$ROOT_USER', pwd: '$ROOT_PWD', roles: [{role: 'userAdminAnyDatabase', db: 'admin'}]});"
mongo admin -u $ROOT_USER -p $ROOT_PWD --authenticationDatabase admin \\
     --eval "db.grantRolesToUser('$ROOT_USER', [{role: '$READ_WRITE_ROLE', db: '$TARGET_DB'}]);"
echo "Initialization script completed"
`;
}

function roleScript(db: string, verb: 'grantRolesToUser' | 'revokeRolesFromUser'): string {
  return `#!/bin/bash
ADMIN_USER="admin"
ADMIN_PWD="admin"
TARGET_DB="${db}"

mongo admin -u $ADMIN_USER -p $ADMIN_PWD --authenticationDatabase admin \\
     --eval "db.${verb}('$ADMIN_USER', [{role: 'readWrite', db: '$TARGET_DB'}]);"
`;
}

function hotelConfigMaps(): Record<string, Record<string, string>> {
  const maps: Record<string, Record<string, string>> = {};
  for (const name of ['geo', 'rate']) {
    const db = `${name}-db`;
    maps[`mongo-${name}-script`] = { [`k8s-${name}-mongo.sh`]: initScript(db) };
    maps[`failure-admin-${name}`] = {
      [`revoke-admin-${name}-mongo.sh`]: roleScript(db, 'revokeRolesFromUser'),
      [`revoke-mitigate-admin-${name}-mongo.sh`]: roleScript(db, 'grantRolesToUser'),
    };
  }
  return maps;
}

function socialServiceConfig(app: AppSpec): string {
  const entries = app.components
    .filter((component) => component.kind !== 'jaeger')
    .map(
      (component) =>
        `  "${component.name}": {\n    "addr": "${component.name}",\n    "port": ${component.ports[0]!.port}\n  }`,
    );
  return `{\n${entries.join(',\n')}\n}\n`;
}

function socialConfigMaps(app: AppSpec): Record<string, Record<string, string>> {
  const serviceConfig = socialServiceConfig(app);
  const maps: Record<string, Record<string, string>> = {};
  for (const component of app.components) {
    if (!component.volumes?.some((volume) => volume.configMap === component.name)) continue;
    maps[component.name] = {
      'jaeger-config.yml':
        'disabled: false\nreporter:\n  logSpans: false\n  localAgentHostPort: "jaeger:6831"\n',
      'service-config.json': serviceConfig,
    };
  }
  return maps;
}

export function configMapsFor(app: AppSpec): Record<string, Record<string, string>> {
  const base = {
    'kube-root-ca.crt': {
      'ca.crt':
        '-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n',
    },
  };
  return { ...base, ...(app.id === 'hotel-reservation' ? hotelConfigMaps() : socialConfigMaps(app)) };
}

export function secretsFor(app: AppSpec): { name: string; type: string; data: Record<string, string> }[] {
  if (app.id === 'hotel-reservation') return [];
  return [
    {
      name: 'mongodb-tls',
      type: 'Opaque',
      data: {
        'ca.crt': '-----BEGIN CERTIFICATE-----\n...\n',
        'tls.pem': '-----BEGIN PRIVATE KEY-----\n...\n',
      },
    },
    {
      name: 'sh.helm.release.v1.social-network.v1',
      type: 'helm.sh/release.v1',
      data: { release: 'H4sIAAAAAAAC/+y9...' },
    },
  ];
}
