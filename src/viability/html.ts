/** Internal: what the viability reports' HTML pages share (not part of the public API). */
const inlineScript = (js: string) => js.replace(/<\/script/gi, '<\\/script')

/** The plot libraries inlined as script tags, safe inside a page. */
export const plotLibraryScripts = (libs: { d3: string; plot: string }): string => `<script>${inlineScript(libs.d3)}</script>\n<script>${inlineScript(libs.plot)}</script>`
