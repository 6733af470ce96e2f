import { LabIcon } from '@jupyterlab/ui-components';

/** Three stages joined left to right: the Pipeline panel's tab and the Stage button. */
export const pipelineIcon = new LabIcon({
  name: 'nbmlops:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="1" y="9" width="6" height="6" rx="1.5"/>' +
    '<rect x="17" y="3" width="6" height="6" rx="1.5"/>' +
    '<rect x="17" y="15" width="6" height="6" rx="1.5"/>' +
    '<path d="M7 11.2h4.2V6.2H17v1.6h-4.2v3.4H17v1.6h-4.2v3.4H17v1.6h-5.8v-5H7z"/>' +
    '</g></svg>'
});
