#!/usr/bin/env node
import { main } from '../app/index.js';

// Exit explicitly: a finished command must not linger on an idle timer or socket.
process.exit(await main(process.argv.slice(2)));
