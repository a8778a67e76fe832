import type { Child } from 'hono/jsx';

export interface LayoutProps {
  title: string;
  /** The page's module under /assets; none for a page without script. */
  script?: string;
  children?: Child;
}

/** The document shell both pages share: one style sheet and one module, nothing from elsewhere. */
export function Layout({ title, script, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/assets/style.css" />
        {script === undefined ? null : <script type="module" src={`/assets/${script}`} />}
      </head>
      <body>{children}</body>
    </html>
  );
}

export interface TokenFormProps {
  /** Prefix of the element ids, so each page's script finds its own. */
  id: string;
  label: string;
  hint: string;
}

/**
 * Sign-in with a token. A password field, so the token is not shown or kept by autofill; the
 * form is handled by script and has no action, so the token never reaches a URL.
 */
export function TokenForm({ id, label, hint }: TokenFormProps) {
  return (
    <section id={`${id}-section`} class="panel sign-in" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Sign in</h2>
      <form id={`${id}-form`} class="stack">
        <label for={`${id}-token`}>{label}</label>
        <input
          id={`${id}-token`}
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          aria-describedby={`${id}-hint`}
        />
        <button type="submit">Sign in</button>
        <p id={`${id}-error`} class="error" role="alert" />
      </form>
      <p id={`${id}-hint`} class="hint">
        {hint}
      </p>
    </section>
  );
}
