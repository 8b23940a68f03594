/**
 * The two modelled applications, with the service names, labels, images, ports and call
 * graph AIOpsLab deploys (hotelReservation from kompose manifests, socialNetwork from the
 * DeathStarBench Helm chart). A component is one Deployment plus its Service.
 */

export type ComponentKind =
  | 'thrift'
  | 'nginx'
  | 'media-frontend'
  | 'go-grpc'
  | 'go-frontend'
  | 'mongodb'
  | 'memcached'
  | 'redis'
  | 'jaeger'
  | 'consul';

export interface ServicePortSpec {
  name: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
}

export interface ComponentSpec {
  name: string;
  kind: ComponentKind;
  containerName: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  /** Service ports; the process listens on the same numbers (targetPort = port). */
  ports: ServicePortSpec[];
  /** Services it calls while serving requests (errors show in its logs when unreachable). */
  calls: string[];
  /** A MongoDB it must reach and be authorized on at startup (it panics otherwise). */
  database?: { service: string; db: string };
  volumes?: { name: string; mountPath: string; configMap?: string; claim?: string }[];
}

export interface AppSpec {
  id: 'hotel-reservation' | 'social-network';
  namespace: string;
  /** The label that get_logs selects pods by (AIOpsLab: `app=` or `io.kompose.service=`). */
  logLabel: string;
  /** Labels on each component's Deployment, pods and Service selector. */
  labels(component: string): Record<string, string>;
  selector(component: string): Record<string, string>;
  components: ComponentSpec[];
  /** Where the workload enters (the frontend). */
  frontend: string;
}

export const HOTEL_IMAGE = 'yinfangchen/hotelreservation:latest';
const MONGO_IMAGE = 'mongo:4.4.6';
const JAEGER_PORTS: ServicePortSpec[] = [
  { name: '14269', port: 14269 },
  { name: '5778', port: 5778 },
  { name: '14268', port: 14268 },
  { name: '14267', port: 14267 },
  { name: '16686', port: 16686 },
  { name: '5775', port: 5775, protocol: 'UDP' },
  { name: '6831', port: 6831, protocol: 'UDP' },
  { name: '6832', port: 6832, protocol: 'UDP' },
];

function goService(name: string, port: number, calls: string[], database?: string): ComponentSpec {
  return {
    name,
    kind: name === 'frontend' ? 'go-frontend' : 'go-grpc',
    containerName: `hotel-reserv-${name}`,
    image: HOTEL_IMAGE,
    command: [name],
    env: { JAEGER_SAMPLE_RATIO: '1' },
    ports: [{ name: String(port), port }],
    calls,
    ...(database ? { database: { service: `mongodb-${database}`, db: `${database}-db` } } : {}),
  };
}

function hotelMongo(name: string, withScripts: boolean): ComponentSpec {
  const volumes: NonNullable<ComponentSpec['volumes']> = [
    { name, mountPath: '/data/db', claim: `${name}-pvc` },
  ];
  if (withScripts) {
    volumes.push({
      name: 'init-script',
      mountPath: '/docker-entrypoint-initdb.d',
      configMap: `mongo-${name}-script`,
    });
    volumes.push({ name: 'failure-script', mountPath: '/scripts', configMap: `failure-admin-${name}` });
  }
  return {
    name: `mongodb-${name}`,
    kind: 'mongodb',
    containerName: `hotel-reserv-${name}-mongo`,
    image: MONGO_IMAGE,
    ...(withScripts ? { args: ['--auth'] } : {}),
    ports: [{ name: `mongodb-${name}`, port: 27017 }],
    calls: [],
    volumes,
  };
}

function hotelMemcached(name: string, short: string): ComponentSpec {
  return {
    name,
    kind: 'memcached',
    containerName: `hotel-reserv-${short}-mmc`,
    image: 'memcached:1.6.7',
    env: { MEMCACHED_CACHE_SIZE: '128', MEMCACHED_THREADS: '2' },
    ports: [{ name: name, port: 11211 }],
    calls: [],
  };
}

export const HOTEL_RESERVATION: AppSpec = {
  id: 'hotel-reservation',
  namespace: 'test-hotel-reservation',
  logLabel: 'io.kompose.service',
  labels: (component) => ({ 'io.kompose.service': component }),
  selector: (component) => ({ 'io.kompose.service': component }),
  frontend: 'frontend',
  components: [
    {
      name: 'consul',
      kind: 'consul',
      containerName: 'consul',
      image: 'hashicorp/consul:latest',
      ports: [
        { name: '8300', port: 8300 },
        { name: '8400', port: 8400 },
        { name: '8500', port: 8500 },
        { name: '8600', port: 8600, protocol: 'UDP' },
      ],
      calls: [],
    },
    goService('frontend', 5000, ['search', 'profile', 'recommendation', 'user', 'reservation']),
    goService('geo', 8083, [], 'geo'),
    {
      name: 'jaeger',
      kind: 'jaeger',
      containerName: 'hotel-reserv-jaeger',
      image: 'jaegertracing/all-in-one:1.57',
      ports: JAEGER_PORTS,
      calls: [],
    },
    hotelMemcached('memcached-profile', 'profile'),
    hotelMemcached('memcached-rate', 'rate'),
    hotelMemcached('memcached-reserve', 'reservation'),
    hotelMongo('geo', true),
    hotelMongo('profile', false),
    hotelMongo('rate', true),
    hotelMongo('recommendation', false),
    hotelMongo('reservation', false),
    hotelMongo('user', false),
    goService('profile', 8081, ['memcached-profile'], 'profile'),
    goService('rate', 8084, ['memcached-rate'], 'rate'),
    goService('recommendation', 8085, [], 'recommendation'),
    goService('reservation', 8087, ['memcached-reserve'], 'reservation'),
    goService('search', 8082, ['geo', 'rate']),
    goService('user', 8086, [], 'user'),
  ],
};

const SOCIAL_IMAGE = 'docker.io/deathstarbench/social-network-microservices:latest';

function thrift(name: string, binary: string, calls: string[]): ComponentSpec {
  return {
    name,
    kind: 'thrift',
    containerName: name,
    image: SOCIAL_IMAGE,
    command: [binary],
    ports: [{ name: '9090', port: 9090 }],
    calls,
    volumes: [{ name: `${name}-config`, mountPath: '/social-network-microservices/config', configMap: name }],
  };
}

function store(name: string, kind: 'mongodb' | 'memcached' | 'redis'): ComponentSpec {
  const spec = {
    mongodb: {
      image: 'docker.io/library/mongo:4.4.6',
      port: 27017,
      args: ['--config', '/social-network-microservices/config/mongod.conf'],
    },
    memcached: { image: 'docker.io/library/memcached:1.6.7', port: 11211, args: undefined },
    redis: {
      image: 'docker.io/library/redis:6.2.4',
      port: 6379,
      args: ['/social-network-microservices/config/redis.conf'],
    },
  }[kind];
  return {
    name,
    kind,
    containerName: name,
    image: spec.image,
    ...(spec.args ? { args: spec.args } : {}),
    ports: [{ name: String(spec.port), port: spec.port }],
    calls: [],
    volumes: [{ name: `${name}-config`, mountPath: '/social-network-microservices/config', configMap: name }],
  };
}

export const SOCIAL_NETWORK: AppSpec = {
  id: 'social-network',
  namespace: 'test-social-network',
  logLabel: 'app',
  labels: (component) => ({ app: component, service: component }),
  selector: (component) => ({ service: component }),
  frontend: 'nginx-thrift',
  components: [
    thrift('compose-post-service', 'ComposePostService', [
      'text-service',
      'user-service',
      'unique-id-service',
      'media-service',
      'post-storage-service',
      'user-timeline-service',
      'home-timeline-service',
    ]),
    store('home-timeline-redis', 'redis'),
    thrift('home-timeline-service', 'HomeTimelineService', [
      'post-storage-service',
      'social-graph-service',
      'home-timeline-redis',
    ]),
    {
      name: 'jaeger',
      kind: 'jaeger',
      containerName: 'jaeger',
      image: 'docker.io/jaegertracing/all-in-one:1.57',
      env: { COLLECTOR_ZIPKIN_HTTP_PORT: '9411' },
      ports: [...JAEGER_PORTS, { name: '9411', port: 9411 }],
      calls: [],
    },
    {
      name: 'media-frontend',
      kind: 'media-frontend',
      containerName: 'media-frontend',
      image: 'docker.io/yg397/media-frontend:xenial',
      ports: [{ name: '8081', port: 8081 }],
      calls: ['media-mongodb'],
    },
    store('media-memcached', 'memcached'),
    store('media-mongodb', 'mongodb'),
    thrift('media-service', 'MediaService', []),
    {
      name: 'nginx-thrift',
      kind: 'nginx',
      containerName: 'nginx-thrift',
      image: 'docker.io/yg397/openresty-thrift:xenial',
      ports: [{ name: '8080', port: 8080 }],
      calls: [
        'compose-post-service',
        'home-timeline-service',
        'user-timeline-service',
        'user-service',
        'social-graph-service',
      ],
      volumes: [
        {
          name: 'nginx-thrift-config',
          mountPath: '/usr/local/openresty/nginx/conf/nginx.conf',
          configMap: 'nginx-thrift',
        },
      ],
    },
    store('post-storage-memcached', 'memcached'),
    store('post-storage-mongodb', 'mongodb'),
    thrift('post-storage-service', 'PostStorageService', ['post-storage-mongodb', 'post-storage-memcached']),
    store('social-graph-mongodb', 'mongodb'),
    store('social-graph-redis', 'redis'),
    thrift('social-graph-service', 'SocialGraphService', [
      'user-service',
      'social-graph-mongodb',
      'social-graph-redis',
    ]),
    thrift('text-service', 'TextService', ['url-shorten-service', 'user-mention-service']),
    thrift('unique-id-service', 'UniqueIdService', []),
    store('url-shorten-memcached', 'memcached'),
    store('url-shorten-mongodb', 'mongodb'),
    thrift('url-shorten-service', 'UrlShortenService', ['url-shorten-mongodb', 'url-shorten-memcached']),
    store('user-memcached', 'memcached'),
    thrift('user-mention-service', 'UserMentionService', ['user-mongodb', 'user-memcached']),
    store('user-mongodb', 'mongodb'),
    thrift('user-service', 'UserService', ['user-mongodb', 'user-memcached', 'social-graph-service']),
    store('user-timeline-mongodb', 'mongodb'),
    store('user-timeline-redis', 'redis'),
    thrift('user-timeline-service', 'UserTimelineService', [
      'post-storage-service',
      'user-timeline-mongodb',
      'user-timeline-redis',
    ]),
  ],
};

export const APPS: Readonly<Record<AppSpec['id'], AppSpec>> = {
  'hotel-reservation': HOTEL_RESERVATION,
  'social-network': SOCIAL_NETWORK,
};

export function findComponent(app: AppSpec, name: string): ComponentSpec | undefined {
  return app.components.find((component) => component.name === name);
}
