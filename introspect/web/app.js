// The API token page.  Talks to /api/v1/session and /api/v1/me/token; the
// secret of a new token lives only in the dialog's field until the dialog
// closes (then it is cleared) and is never stored anywhere.
'use strict';

(function () {
	const $ = (id) => document.getElementById(id);
	let csrf = null;
	let auth = 'pam';
	let opener = null;

	function show(id, on) {
		$(id).hidden = !on;
	}

	function notice(text, bad) {
		const n = $('notice');
		n.textContent = text || '';
		n.classList.toggle('bad', !!bad);
	}

	function day(t) {
		return new Date(t * 1000).toISOString().slice(0, 10);
	}

	function when(t) {
		return new Date(t * 1000).toISOString().slice(0, 16)
			.replace('T', ' ') + ' UTC';
	}

	async function api(method, path, body) {
		const opts = {
			method,
			credentials: 'same-origin',
			cache: 'no-store',
			headers: {},
		};
		if (csrf && method !== 'GET')
			opts.headers['X-CSRF-Token'] = csrf;
		if (body !== undefined) {
			opts.headers['Content-Type'] = 'application/json';
			opts.body = JSON.stringify(body);
		}
		const res = await fetch(path, opts);
		let data = {};
		try {
			data = await res.json();
		} catch (e) {
			data = {};
		}
		return { status: res.status, data, res };
	}

	function signedOut(data) {
		csrf = null;
		show('who', false);
		show('token', false);
		show('loading', false);
		if (data && data.auth === 'header') {
			show('signin', false);
			show('proxy-signin', true);
		} else {
			show('proxy-signin', false);
			show('signin', true);
		}
	}

	async function loadSession() {
		const { data } = await api('GET', '/api/v1/session');
		auth = data.auth || 'pam';
		if (!data.signed_in) {
			signedOut(data);
			return false;
		}
		csrf = data.csrf_token;
		$('who-name').textContent = data.user;
		show('who', true);
		show('signin', false);
		show('proxy-signin', false);
		$('signout').hidden = auth !== 'pam';
		return true;
	}

	function render(s) {
		const st = $('state-text');
		const t = s.token;
		st.className = 'state';
		show('facts', false);
		show('contact', false);
		show('generate', false);
		show('regenerate', false);
		show('revoke', false);
		if (t) {
			$('f-id').textContent = t.id;
			$('f-hint').textContent = '…' + t.hint;
			$('f-created').textContent = day(t.created);
			$('f-expires').textContent = day(t.expires);
			$('f-days').textContent = String(t.days_left);
			$('f-used').textContent = t.last_used
				? when(t.last_used.time) + ' from ' +
				  t.last_used.source +
				  (t.last_used.client
					? ' (' + t.last_used.client + ')' : '')
				: 'Never';
		}
		switch (s.state) {
		case 'unknown':
			st.textContent = 'Your account (' + s.user + ') is not set ' +
				'up for API tokens, so you cannot manage one here. ' +
				'Ask an administrator to add you.';
			break;
		case 'disabled':
			st.classList.add('off');
			st.textContent = 'API tokens have been switched off for ' +
				'your account by an administrator.' + (t ? ' Your ' +
				'token does not work while they are off.' : '');
			if (s.support_contact) {
				$('contact').textContent = 'To have them switched on ' +
					'again, contact: ' + s.support_contact;
				show('contact', true);
			}
			break;
		case 'active':
			st.classList.add('active');
			st.textContent = 'You have an active token.';
			show('facts', true);
			show('regenerate', true);
			show('revoke', true);
			break;
		case 'expired':
			if (t) {
				st.textContent = 'Your token has expired. Generate a ' +
					'new one to keep using the API.';
				show('facts', true);
				show('regenerate', true);
				show('revoke', true);
			} else {
				st.textContent = 'Your token ' +
					(s.expired_token ? s.expired_token.id + ' ' : '') +
					'expired and has been deleted. Generate a new one ' +
					'to use the API.';
				show('generate', true);
			}
			break;
		default:
			st.textContent = 'You have no API token. A token lets your ' +
				'scripts and tools call the API as you; it is valid ' +
				'for ' + s.lifetime_days + ' days.';
			show('generate', true);
		}
		show('token', true);
		show('loading', false);
	}

	async function loadToken() {
		const { status, data } = await api('GET', '/api/v1/me/token');
		if (status === 401) {
			await loadSession();
			return;
		}
		if (status !== 200) {
			notice(data.error_description || 'The page could not load ' +
				'your token; try again later.', true);
			return;
		}
		render(data);
	}

	async function refresh() {
		try {
			if (await loadSession())
				await loadToken();
		} catch (e) {
			show('loading', false);
			notice('The server cannot be reached; try again later.', true);
		}
	}

	function openDialog(id, from) {
		opener = from || document.activeElement;
		$(id).showModal();
	}

	function closeDialog(id) {
		const d = $(id);
		if (d.open)
			d.close();
	}

	function clearSecret() {
		const f = $('secret');
		f.value = '';
		f.type = 'password';
		$('reveal').setAttribute('aria-pressed', 'false');
		$('reveal-label').textContent = 'Show';
		$('copy-status').textContent = '';
	}

	// Where focus goes when a dialog closes: back to the button that
	// opened it if it is still shown, else to the main action.
	function restoreFocus() {
		let target = opener;
		if (!target || target.hidden || target.offsetParent === null) {
			target = ['generate', 'regenerate', 'revoke']
				.map($).find((b) => !b.hidden) || $('token-h');
		}
		if (target === $('token-h'))
			target.setAttribute('tabindex', '-1');
		target.focus();
		opener = null;
	}

	async function write(method, body) {
		const { status, data } = await api(method, '/api/v1/me/token',
			body);
		if (status === 401) {
			notice('Your session has ended; sign in again.', true);
			await loadSession();
			return null;
		}
		if (status >= 400) {
			notice(data.error_description || 'That did not work.', true);
			await loadToken();
			return null;
		}
		return data;
	}

	async function generate(replace) {
		notice('');
		const data = await write('POST', { replace });
		if (!data)
			return;
		await loadToken();
		clearSecret();
		$('secret').value = data.token;
		data.token = null;
		notice(replace ? 'Your token was regenerated; the old one no ' +
			'longer works.' : 'Your token was created.');
		openDialog('dlg-secret', opener);
		$('secret').focus();
	}

	async function copySecret() {
		const text = $('secret').value;
		try {
			await navigator.clipboard.writeText(text);
			$('copy-status').textContent = 'Copied to the clipboard.';
		} catch (e) {
			$('copy-status').textContent = 'Copying failed; select the ' +
				'token and copy it by hand.';
		}
	}

	function bind() {
		$('signin-form').addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const user = $('user').value.trim();
			const password = $('password').value;
			$('signin-error').textContent = '';
			if (!user || !password) {
				$('signin-error').textContent = 'Enter your user name ' +
					'and password.';
				(user ? $('password') : $('user')).focus();
				return;
			}
			$('signin-submit').disabled = true;
			try {
				const { status, data, res } = await api('POST',
					'/api/v1/session', { user, password });
				$('password').value = '';
				if (status === 200) {
					notice('');
					await refresh();
					$('token-h').setAttribute('tabindex', '-1');
					$('token-h').focus();
				} else if (status === 429) {
					const wait = res.headers.get('Retry-After');
					$('signin-error').textContent = 'Too many failed ' +
						'sign-ins. Wait ' + (wait || 'a few') +
						' seconds and try again.';
				} else {
					$('signin-error').textContent =
						data.error_description || 'Sign-in failed.';
					$('password').focus();
				}
			} finally {
				$('signin-submit').disabled = false;
			}
		});
		$('signout').addEventListener('click', async () => {
			await api('DELETE', '/api/v1/session');
			notice('You have signed out.');
			signedOut({ auth });
			$('user').focus();
		});
		$('generate').addEventListener('click', (ev) => {
			opener = ev.currentTarget;
			generate(false);
		});
		$('regenerate').addEventListener('click', (ev) =>
			openDialog('dlg-regenerate', ev.currentTarget));
		$('revoke').addEventListener('click', (ev) =>
			openDialog('dlg-revoke', ev.currentTarget));
		$('regenerate-cancel').addEventListener('click', () =>
			closeDialog('dlg-regenerate'));
		$('revoke-cancel').addEventListener('click', () =>
			closeDialog('dlg-revoke'));
		$('regenerate-ok').addEventListener('click', async () => {
			const from = opener;
			$('dlg-regenerate').close();
			opener = from;
			await generate(true);
		});
		$('revoke-ok').addEventListener('click', async () => {
			const from = opener;
			$('dlg-revoke').close();
			opener = from;
			const data = await write('DELETE');
			if (data) {
				notice('Your token ' + data.revoked + ' was revoked. ' +
					'It no longer works anywhere.');
				await loadToken();
				opener = null;
				restoreFocus();
			}
		});
		$('reveal').addEventListener('click', () => {
			const f = $('secret');
			const shown = f.type === 'text';
			f.type = shown ? 'password' : 'text';
			$('reveal').setAttribute('aria-pressed', String(!shown));
			$('reveal-label').textContent = shown ? 'Show' : 'Hide';
		});
		$('copy').addEventListener('click', copySecret);
		$('secret-done').addEventListener('click', () => {
			clearSecret();
			closeDialog('dlg-secret');
		});
		$('dlg-secret').addEventListener('close', clearSecret);
		for (const id of ['dlg-secret', 'dlg-regenerate', 'dlg-revoke'])
			$(id).addEventListener('close', () => {
				if (opener !== null)
					restoreFocus();
			});
		// Leaving the page (or the back-forward cache) drops the secret.
		window.addEventListener('pagehide', () => {
			clearSecret();
			closeDialog('dlg-secret');
		});
	}

	document.addEventListener('DOMContentLoaded', () => {
		bind();
		refresh();
	});
}());
