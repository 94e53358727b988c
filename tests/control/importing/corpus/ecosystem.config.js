'use strict';
/**
 * PM2 ecosystem file, as `pm2 init simple` and the PM2 docs write it.
 */
module.exports = {
  apps: [
    {
      name: 'api',
      script: './dist/server.js',
      instances: 4,
      exec_mode: 'cluster',
      watch: false,
      max_memory_restart: '300M',
      node_args: '--max-old-space-size=256',
      env: {
        NODE_ENV: 'development',
        PORT: 3000,
      },
      env_production: {
        NODE_ENV: 'production',
      },
      increment_var: 'PORT',
      out_file: '/var/log/api/out.log',
      error_file: '/var/log/api/err.log',
      merge_logs: true,
      time: true,
      kill_timeout: 3000,
      exp_backoff_restart_delay: 100,
    },
    {
      name: "queue",
      script: `worker.py`, // a Python worker, run by python3
      args: ["--concurrency", "2"],
      autorestart: true,
      max_restarts: 10,
      min_uptime: "5s",
      stop_exit_codes: [0],
      restart_delay: 1e3,
    },
  ],

  deploy: {
    production: {
      user: 'node',
      host: '212.83.163.1',
      ref: 'origin/master',
      repo: 'git@github.com:repo.git',
      path: '/var/www/production',
    },
  },
};
