// Runs the `script:` of an actions/github-script step the way the action does (an
// async function of require, github, context, core), against an in-memory fake of the
// few GitHub REST calls the example workflows use.
//
//   node github_script_harness.js SCRIPT_FILE STATE_FILE
//
// STATE_FILE (JSON) holds the repository's comments and issues and the run's context;
// it is read before and written back after the script, so a test can run the script
// several times and look at what a person would see on GitHub.
'use strict';
const fs = require('fs');

const [scriptFile, stateFile] = process.argv.slice(2);
const script = fs.readFileSync(scriptFile, 'utf8');
const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
state.comments = state.comments || [];
state.issues = state.issues || [];
state.log = [];
let nextId = 1000 + state.comments.length + state.issues.length;
const bot = { login: 'github-actions[bot]', type: 'Bot' };

const issues = {
  listComments: async ({ issue_number }) => ({
    data: state.comments.filter((c) => c.issue_number === issue_number),
  }),
  createComment: async ({ issue_number, body }) => {
    const comment = { id: nextId++, issue_number, body, user: bot, html_url: `comment/${nextId}` };
    state.comments.push(comment);
    return { data: comment };
  },
  updateComment: async ({ comment_id, body }) => {
    const comment = state.comments.find((c) => c.id === comment_id);
    if (!comment) throw new Error(`no comment ${comment_id}`);
    comment.body = body;
    return { data: comment };
  },
  listForRepo: async ({ state: wanted }) => ({
    data: state.issues.filter((i) => wanted === 'all' || i.state === wanted),
  }),
  create: async ({ title, body }) => {
    const issue = { number: nextId++, title, body, state: 'open', user: bot, html_url: 'issue' };
    state.issues.push(issue);
    return { data: issue };
  },
  update: async ({ issue_number, ...fields }) => {
    const issue = state.issues.find((i) => i.number === issue_number);
    if (!issue) throw new Error(`no issue ${issue_number}`);
    for (const key of ['body', 'state', 'state_reason', 'title']) {
      if (key in fields) issue[key] = fields[key];
    }
    return { data: issue };
  },
};
for (const name of Object.keys(issues)) {
  const call = issues[name];
  issues[name] = async (params) => {
    // The action's token belongs to one repository: calls must name it.
    if (params.owner !== state.context.repo.owner || params.repo !== state.context.repo.repo) {
      throw new Error(`${name} called for ${params.owner}/${params.repo}`);
    }
    return call(params);
  };
}
const github = {
  rest: { issues },
  paginate: async (method, params) => (await method(params)).data,
};
const core = {
  info: (message) => state.log.push(message),
  warning: (message) => state.log.push(`warning: ${message}`),
  setFailed: (message) => {
    state.log.push(`failed: ${message}`);
    process.exitCode = 1;
  },
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, state.context, core)
  .then(() => fs.writeFileSync(stateFile, JSON.stringify(state, null, 1)))
  .catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  });
