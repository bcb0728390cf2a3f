// The self-service page in a real browser: Debian's headless Chromium
// driven by playwright-core, accessibility checked by axe-core on every
// state.  Run by tests/integration/web-browser.sh, which starts apitokend
// (and Apache for MODE=header) and reads our lines:
//     PASS<TAB>what | FAIL<TAB>what<TAB>detail | CANNOT_LAUNCH<TAB>why
// Environment: MODE (pam|header), PAGE_URL, DIRECT_URL, RS_ID, RS_SECRET,
// USER_NAME, USER_PASSWORD, ARTIFACTS, PROFILE, CTL, SECRETS_OUT.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import http from 'node:http';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const axeSource = require('axe-core').source;

const env = process.env;
const mode = env.MODE;
const page_url = env.PAGE_URL;
const user = env.USER_NAME;
const secrets = [];

function pass(what) {
	console.log(`PASS\t${what}`);
}
function fail(what, detail) {
	console.log(`FAIL\t${what}\t${String(detail).replace(/\s+/g, ' ')}`);
}
function check(what, cond, detail) {
	if (cond)
		pass(what);
	else
		fail(what, detail === undefined ? '' : detail);
}

async function introspect(token) {
	const auth = Buffer.from(`${env.RS_ID}:${env.RS_SECRET}`).toString(
		'base64');
	const res = await fetch(`${env.DIRECT_URL}/introspect`, {
		method: 'POST',
		headers: {
			Authorization: `Basic ${auth}`,
			'Content-Type': 'application/x-www-form-urlencoded',
		},
		body: new URLSearchParams({ token }).toString(),
	});
	return (await res.json()).active === true;
}

let shot = 0;
async function screenshot(page, name) {
	shot += 1;
	const file = `${env.ARTIFACTS}/${mode}-${String(shot).padStart(2, '0')}-${name}.png`;
	await page.screenshot({ path: file, fullPage: true });
}

async function axe(page, state) {
	await page.evaluate(axeSource);
	const result = await page.evaluate(() => window.axe.run(document, {
		resultTypes: ['violations'],
	}));
	const bad = result.violations.filter(
		(v) => v.impact === 'serious' || v.impact === 'critical');
	check(`axe-core: no serious or critical violations (${state})`,
		bad.length === 0,
		bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`)
			.join('; '));
}

async function pageText(page) {
	return page.evaluate(() => document.documentElement.outerHTML + '\n' +
		[...document.querySelectorAll('input')].map((i) => i.value)
			.join('\n'));
}

async function focusInOpenDialog(page) {
	return page.evaluate(() => {
		const d = document.querySelector('dialog[open]');
		return !!d && d.contains(document.activeElement);
	});
}

async function stateText(page) {
	return (await page.locator('#state-text').textContent()) || '';
}

// A page on another site (localhost is not 127.0.0.1) that posts a form
// at the API as soon as it loads.
function evilSite(target) {
	const html = `<!doctype html><html><body>
<form id="f" method="POST" action="${target}/api/v1/me/token"
 enctype="text/plain"><input name="replace" value="true"></form>
<script>document.getElementById('f').submit();</script></body></html>`;
	const srv = http.createServer((req, res) => {
		res.writeHead(200, { 'Content-Type': 'text/html' });
		res.end(html);
	});
	return new Promise((resolve) => srv.listen(0, '127.0.0.1',
		() => resolve(srv)));
}

async function generateFlow(page, regenerate) {
	const before = regenerate ? await page.locator('#f-id').textContent()
		: null;
	if (regenerate) {
		await page.locator('#regenerate').click();
		await page.locator('#dlg-regenerate').waitFor({ state: 'visible' });
		check('regenerate asks first: the old token stops working at once',
			/stops working at once/.test(
				await page.locator('#dlg-regenerate').textContent()));
		check('focus moves into the confirmation', await focusInOpenDialog(page));
		await page.locator('#regenerate-ok').click();
	} else {
		await page.locator('#generate').click();
	}
	const field = page.locator('#secret');
	await page.locator('#dlg-secret').waitFor({ state: 'visible' });
	await page.waitForFunction(
		() => document.getElementById('secret').value.length > 0);
	const secret = await field.inputValue();
	secrets.push(secret);
	appendFileSync(env.SECRETS_OUT, secret + '\n');
	check(`${regenerate ? 'regenerate' : 'generate'}: the dialog shows the new token`,
		/^apitok_/.test(secret), secret.slice(0, 7));
	check('the token field is masked', (await field.getAttribute('type')) ===
		'password');
	check('focus is inside the dialog', await focusInOpenDialog(page));
	check('the dialog warns that the token is shown only now',
		/only time the\s+token is shown/.test(
			await page.locator('#dlg-secret').textContent()));
	await screenshot(page, regenerate ? 'regenerated-masked' : 'generated-masked');
	await axe(page, 'new token dialog, masked');
	await page.locator('#reveal').click();
	check('the view toggle shows the token',
		(await field.getAttribute('type')) === 'text' &&
		(await page.locator('#reveal').getAttribute('aria-pressed')) ===
		'true');
	await screenshot(page, 'revealed');
	await page.locator('#reveal').click();
	check('... and hides it again', (await field.getAttribute('type')) ===
		'password');
	await page.locator('#copy').click();
	await page.waitForFunction(
		() => document.getElementById('copy-status').textContent !== '');
	const clip = await page.evaluate(() => navigator.clipboard.readText());
	check('Copy puts the token on the clipboard', clip === secret);
	check('the copied token introspects active', await introspect(clip));
	if (regenerate) {
		check('the new token has a new id', before !==
			await page.locator('#f-id').textContent());
	}
	await page.locator('#secret-done').click();
	await page.locator('#dlg-secret').waitFor({ state: 'hidden' });
	check('closing the dialog clears the field',
		(await field.inputValue()) === '');
	// The dialog's close event (which moves focus) runs as a task of its
	// own: wait for it, at most the default timeout.
	check('focus returns to the page (a visible action button)',
		await page.waitForFunction(() => {
			const a = document.activeElement;
			return !!a && a.tagName === 'BUTTON' && !a.closest('dialog') &&
				a.offsetParent !== null;
		}).then(() => true, () => false));
	return secret;
}

async function layoutChecks(page, state) {
	const sizes = [
		{ name: 'phone', width: 375, height: 740 },
		// 200% zoom of a 1280 px wide window lays out in 640 CSS px.
		{ name: 'zoom200', width: 640, height: 400 },
	];
	for (const s of sizes) {
		await page.setViewportSize({ width: s.width, height: s.height });
		const fits = await page.evaluate(() =>
			document.documentElement.scrollWidth <=
			document.documentElement.clientWidth);
		check(`${state}: no sideways scrolling at ${s.name} width (${s.width} px)`,
			fits);
		await screenshot(page, `${state}-${s.name}`);
	}
	await page.setViewportSize({ width: 1024, height: 768 });
}

async function run() {
	let context;
	try {
		context = await chromium.launchPersistentContext(env.PROFILE, {
			executablePath: '/usr/bin/chromium',
			headless: true,
			args: ['--headless', '--no-sandbox', '--disable-gpu',
				'--disable-quic', '--no-first-run',
				'--disable-background-networking',
				'--disable-component-update', '--disable-sync'],
			viewport: { width: 1024, height: 768 },
			permissions: ['clipboard-read', 'clipboard-write'],
			httpCredentials: mode === 'header'
				? { username: user, password: env.USER_PASSWORD }
				: undefined,
			timeout: 60000,
		});
	} catch (e) {
		console.log(`CANNOT_LAUNCH\t${String(e.message).split('\n')[0]}`);
		return;
	}
	if (mode === 'probe') {
		console.log('LAUNCHED');
		await context.close();
		return;
	}
	const page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(15000);
	const problems = [];
	page.on('console', (m) => {
		// Failed loads are judged by their responses below (the
		// browser also asks for /favicon.ico of the cross-site
		// POST's JSON answer).
		if (m.type() === 'error' && !/^Failed to load resource/.test(
			m.text()))
			problems.push(m.text());
	});
	page.on('pageerror', (e) => problems.push(String(e)));
	page.on('response', (r) => {
		if (r.status() === 404)
			problems.push(`404 for ${r.url()}`);
	});
	let evil;
	try {
		await page.goto(`${page_url}/account/`);
		if (mode === 'pam') {
			await page.locator('#signin').waitFor({ state: 'visible' });
			pass('signed out: the sign-in form is shown');
			await screenshot(page, 'signin');
			await axe(page, 'sign-in form');
			await page.locator('#user').fill(user);
			await page.locator('#password').fill('not-the-password');
			await page.locator('#signin-submit').click();
			await page.waitForFunction(() =>
				document.getElementById('signin-error').textContent !== '');
			check('a wrong password is refused with a plain message',
				/not right/.test(await page.locator('#signin-error')
					.textContent()));
			await axe(page, 'sign-in error');
			// Sign in with the keyboard only.
			await page.locator('#user').focus();
			await page.keyboard.press('Control+A');
			await page.keyboard.type(user);
			await page.keyboard.press('Tab');
			await page.keyboard.type(env.USER_PASSWORD);
			await page.keyboard.press('Enter');
		}
		await page.locator('#token').waitFor({ state: 'visible' });
		check(`signed in as ${user}`, (await page.locator('#who-name')
			.textContent()) === user);
		check('no token yet', /no API token/.test(await stateText(page)),
			await stateText(page));
		await screenshot(page, 'no-token');
		await axe(page, 'no token');

		if (mode === 'pam') {
			// A cross-site form post while signed in changes nothing.
			evil = await evilSite(page_url);
			const evilUrl = `http://localhost:${evil.address().port}/`;
			const posted = page.waitForResponse(
				(r) => r.url().endsWith('/api/v1/me/token'));
			await page.goto(evilUrl);
			const r = await posted;
			check('a cross-site form POST is refused (403)',
				r.status() === 403, r.status());
			await page.goto(`${page_url}/account/`);
			await page.locator('#token').waitFor({ state: 'visible' });
			check('... and no token was made', /no API token/.test(
				await stateText(page)));
		}

		const t1 = await generateFlow(page, false);
		check('the page now shows an active token', /active token/.test(
			await stateText(page)) && await page.locator('#facts').isVisible());
		check('the status names the token id, created, expires, days left',
			(await page.locator('#f-id').textContent()).length === 16 &&
			/^\d{4}-\d\d-\d\d$/.test(await page.locator('#f-created')
				.textContent()) &&
			/^\d{4}-\d\d-\d\d$/.test(await page.locator('#f-expires')
				.textContent()) &&
			/^\d+$/.test(await page.locator('#f-days').textContent()));
		// generateFlow introspected the token: the page says so.
		await page.reload();
		await page.waitForFunction(() =>
			document.getElementById('f-used').textContent !== '');
		check('after a use, the page shows when and from where',
			/^\d{4}-\d\d-\d\d \d\d:\d\d UTC from 127\.0\.0\.1/.test(
				await page.locator('#f-used').textContent()));
		await screenshot(page, 'active');
		await axe(page, 'active token');
		await layoutChecks(page, 'active');

		await page.reload();
		await page.locator('#token').waitFor({ state: 'visible' });
		check('after a reload the secret is nowhere in the page',
			!(await pageText(page)).includes(t1));
		await page.goto('about:blank');
		await page.goBack();
		await page.locator('#token').waitFor({ state: 'visible' });
		check('going back does not show the secret again',
			!(await pageText(page)).includes(t1));

		const t2 = await generateFlow(page, true);
		check('after regenerating, the old token is inactive',
			!(await introspect(t1)));

		// Revoke: cancel keeps the token, confirm ends it.
		await page.locator('#revoke').click();
		await page.locator('#dlg-revoke').waitFor({ state: 'visible' });
		const text = await page.locator('#dlg-revoke').textContent();
		check('revoke asks for confirmation: cannot be undone, every region',
			/cannot be undone/.test(text) && /every region/.test(text));
		check('focus moves into the confirmation', await focusInOpenDialog(page));
		await screenshot(page, 'revoke-confirm');
		await axe(page, 'revoke confirmation');
		await page.keyboard.press('Escape');
		await page.locator('#dlg-revoke').waitFor({ state: 'hidden' });
		check('Escape cancels and focus returns to the Revoke button',
			await page.waitForFunction(() =>
				document.activeElement.id === 'revoke').then(() => true,
				() => false));
		check('cancel keeps the token active', await introspect(t2));
		await page.locator('#revoke').click();
		await page.locator('#revoke-cancel').click();
		check('the Cancel button keeps it too', await introspect(t2));
		await page.locator('#revoke').click();
		await page.locator('#revoke-ok').click();
		await page.waitForFunction(() =>
			/no API token/.test(document.getElementById('state-text')
				.textContent));
		pass('after revoking, the page shows no token');
		check('the revoked token is inactive', !(await introspect(t2)));
		check('the page says it was revoked', /was revoked/.test(
			await page.locator('#notice').textContent()));
		await screenshot(page, 'revoked');
		await axe(page, 'revoked');

		if (mode === 'pam') {
			execFileSync(env.CTL, ['user', 'api-access', user, 'off'],
				{ stdio: 'ignore' });
			await page.reload();
			await page.locator('#token').waitFor({ state: 'visible' });
			check('an administrator\'s api-access off shows on the page',
				/switched off for your account by an administrator/.test(
					await stateText(page)));
			check('... with who to contact',
				/IT service desk/.test(await page.locator('#contact')
					.textContent()));
			check('... and no Generate button',
				!(await page.locator('#generate').isVisible()));
			await screenshot(page, 'switched-off');
			await axe(page, 'switched off');
			await layoutChecks(page, 'switched-off');
			execFileSync(env.CTL, ['user', 'api-access', user, 'on'],
				{ stdio: 'ignore' });

			await page.locator('#signout').click();
			await page.locator('#signin').waitFor({ state: 'visible' });
			pass('sign-out shows the sign-in form again');
			await page.reload();
			await page.locator('#signin').waitFor({ state: 'visible' });
			pass('... and the session is gone after a reload');
		} else {
			check('behind the proxy there is no password form',
				!(await page.locator('#signin').isVisible()) &&
				!(await page.locator('#signout').isVisible()));
		}
		check('no script errors or CSP violations in the console',
			problems.length === 0, problems.join(' | '));
	} catch (e) {
		fail('the browser flow ran to its end', e.stack || e);
		await screenshot(page, 'failure').catch(() => {});
	} finally {
		if (evil)
			evil.close();
		await context.close();
	}
}

await run();
